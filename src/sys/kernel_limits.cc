#include "sys/kernel_limits.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <glog/logging.h>

namespace solar {

int64_t ReadSysctl(const std::string& name) {
  std::ifstream in("/proc/sys/" + name);
  int64_t v = -1;
  if (!(in >> v)) return -1;
  return v;
}

bool WriteSysctl(const std::string& name, int64_t value) {
  std::ofstream out("/proc/sys/" + name);
  out << value << "\n";
  out.flush();
  return static_cast<bool>(out);
}

namespace {

// net.unix.max_dgram_qlen: 10 on stock kernels. With so short a queue a
// listener forwarding small requests hits EAGAIN constantly (it queues and
// recovers, but every EAGAIN costs a poll round trip).
void CheckDgramQueue(const KernelLimitNeeds& needs, bool raise, bool root) {
  int64_t qlen = ReadSysctl("net/unix/max_dgram_qlen");
  if (qlen >= 0 && static_cast<uint64_t>(qlen) < needs.unix_dgram_qlen) {
    if (raise && root && WriteSysctl("net/unix/max_dgram_qlen", needs.unix_dgram_qlen)) {
      LOG(INFO) << "raised net.unix.max_dgram_qlen from " << qlen << " to " << needs.unix_dgram_qlen;
    } else {
      LOG(WARNING) << "net.unix.max_dgram_qlen is " << qlen << ": listener->worker queues hold only " << qlen
                   << " datagrams, which limits throughput; raise it with: sysctl -w net.unix.max_dgram_qlen="
                   << needs.unix_dgram_qlen;
    }
  }
}

// kernel.msgmax and kernel.msgmnb, for the UDP queue (0 in needs: no UDP).
void CheckMsgQueue(const KernelLimitNeeds& needs, bool raise, bool root) {
  // kernel.msgmax (8 KiB by default) caps one queue message: UDP datagrams
  // above it cannot be queued. Raising it as root costs nothing until used.
  if (needs.msgmax > 0) {
    int64_t msgmax = ReadSysctl("kernel/msgmax");
    if (msgmax >= 0 && static_cast<uint64_t>(msgmax) < needs.msgmax) {
      if (raise && root && WriteSysctl("kernel/msgmax", needs.msgmax)) {
        LOG(INFO) << "raised kernel.msgmax from " << msgmax << " to " << needs.msgmax
                  << " so every UDP datagram fits one queue message";
      } else {
        LOG(WARNING) << "kernel.msgmax is " << msgmax << ": UDP datagrams over " << msgmax - 32
                     << " bytes will be dropped (counted); raise it with: sysctl -w kernel.msgmax=" << needs.msgmax;
      }
    }
  }

  // kernel.msgmnb is the byte limit a new queue starts with (16 KiB by
  // default). Setting msg_qbytes above it needs CAP_SYS_RESOURCE, which even
  // root may lack in a container; raising the sysctl before the queue is
  // created works wherever /proc/sys is writable.
  if (needs.msgmnb > 0) {
    int64_t msgmnb = ReadSysctl("kernel/msgmnb");
    if (msgmnb >= 0 && static_cast<uint64_t>(msgmnb) < needs.msgmnb && raise && root &&
        WriteSysctl("kernel/msgmnb", needs.msgmnb)) {
      LOG(INFO) << "raised kernel.msgmnb from " << msgmnb << " to " << needs.msgmnb << " for the UDP queue";
    }
  }
}

void CheckNofile(const KernelLimitNeeds& needs, bool root) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < needs.nofile) {
    rlimit want = rl;
    want.rlim_cur = needs.nofile;
    if (root) want.rlim_max = std::max<rlim_t>(rl.rlim_max, needs.nofile);
    else want.rlim_cur = std::min<rlim_t>(needs.nofile, rl.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &want) == 0 && want.rlim_cur >= needs.nofile) {
      LOG(INFO) << "raised RLIMIT_NOFILE from " << rl.rlim_cur << " to " << want.rlim_cur;
    } else {
      getrlimit(RLIMIT_NOFILE, &rl);
      // Each process has its own limit: what matters is one listener full of
      // connections. Enough for that is not worth a warning at every start.
      if (rl.rlim_cur >= needs.nofile_required) {
        LOG(INFO) << "RLIMIT_NOFILE is " << rl.rlim_cur << " (rlimit_nofile asks " << needs.nofile
                  << "); enough for max_connections per listener";
      } else {
        LOG(WARNING) << "RLIMIT_NOFILE is " << rl.rlim_cur << ", below the " << needs.nofile_required
                     << " fds a listener needs for max_connections: connections per listener are limited by it; "
                     << "raise it with ulimit -n or LimitNOFILE= (systemd), or lower max_connections";
      }
    }
  }
}

}  // namespace

void CheckKernelLimits(const KernelLimitNeeds& needs, bool raise) {
  const bool root = geteuid() == 0;
  CheckDgramQueue(needs, raise, root);
  CheckMsgQueue(needs, raise, root);
  CheckNofile(needs, root);
}

}  // namespace solar
