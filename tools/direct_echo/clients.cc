// What direct-echo's modes share: the client side of TCP, batches of
// datagrams, CPU pinning.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <csignal>

#include <vector>

#include "direct_echo.h"

namespace direct_echo {

void PinTo(size_t ordinal) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  }
  if (cpus.empty()) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpus[ordinal % cpus.size()], &one);
  sched_setaffinity(0, sizeof(one), &one);
}

pid_t ForkWorker(size_t w, int listen_fd, const std::function<void()>& run) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::close(listen_fd);
  PinTo(1 + w);
  run();
  _exit(0);
}

void EndWorkers(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) kill(pid, SIGKILL);
  for (pid_t pid : pids) waitpid(pid, nullptr, 0);
}

Batch::Batch(size_t count, size_t size, bool with_names)
    : bufs_(count, std::vector<char>(size)), iov_(count), names_(with_names ? count : 0), msgs_(count) {}

mmsghdr* Batch::reset() {
  for (size_t i = 0; i < msgs_.size(); ++i) {
    iov_[i] = {bufs_[i].data(), bufs_[i].size()};
    msgs_[i] = {};
    msgs_[i].msg_hdr.msg_iov = &iov_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    if (!names_.empty()) {
      msgs_[i].msg_hdr.msg_name = &names_[i];
      msgs_[i].msg_hdr.msg_namelen = sizeof(names_[i]);
    }
  }
  return msgs_.data();
}

void Batch::trim(int n) {
  for (int i = 0; i < n; ++i) iov_[static_cast<size_t>(i)].iov_len = msgs_[static_cast<size_t>(i)].msg_len;
}

Clients::Clients() : ep_(epoll_create1(EPOLL_CLOEXEC)) {}

Clients::~Clients() {
  for (auto& [fd, out] : out_) ::close(fd);
  ::close(ep_);
}

void Clients::watch(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
}

void Clients::acceptAll(int listen_fd) {
  for (;;) {
    int c = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    watch(c);
    out_[c].clear();
  }
}

void Clients::wantWrite(int fd, bool on) {
  epoll_event ev{};
  ev.events = on ? EPOLLOUT : EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev);
}

bool Clients::write(int fd, const char* data, size_t len) {
  auto it = out_.find(fd);
  if (it == out_.end()) return false;  // closed meanwhile: a bench run keeps its fds, so none is reused
  std::string& out = it->second;
  if (!out.empty()) {
    out.append(data, len);
    return true;
  }
  ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN) return false;
  const size_t done = w > 0 ? static_cast<size_t>(w) : 0;
  if (done < len) {  // the client is behind: keep the rest, stop reading until it is sent
    out.assign(data + done, len - done);
    wantWrite(fd, true);
  }
  return true;
}

bool Clients::flushOut(int fd, std::string& out) {
  ssize_t w = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN) {
    close(fd);
    return false;
  }
  if (w > 0) out.erase(0, static_cast<size_t>(w));
  if (out.empty()) wantWrite(fd, false);
  return true;
}

void Clients::close(int fd) {
  epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  out_.erase(fd);
}

}  // namespace direct_echo
