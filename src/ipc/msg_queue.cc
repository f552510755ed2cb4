#include "ipc/msg_queue.h"

#include <arpa/inet.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include <cerrno>
#include <cstring>

#include "ipc/address_codec.h"

namespace solar::ipc {

void EncodeUdpMessage(const ClientAddress& from, std::string_view payload, std::string* out) {
  out->clear();
  AppendUdpMessage(from, payload, out);
}

void AppendUdpMessage(const ClientAddress& from, std::string_view payload, std::string* out) {
  UdpMessageHeader h{};
  h.magic = kUdpMagic;
  h.payload_len = static_cast<uint32_t>(payload.size());
  PackAddress(from, &h.addr_family, &h.port, h.addr);
  out->append(reinterpret_cast<const char*>(&h), sizeof(h));
  out->append(payload);
}

bool NextUdpMessage(std::string_view* rest, ClientAddress* from, std::string_view* payload) {
  if (rest->size() < sizeof(UdpMessageHeader)) return false;
  UdpMessageHeader h;
  std::memcpy(&h, rest->data(), sizeof(h));
  if (h.magic != kUdpMagic || h.payload_len > rest->size() - sizeof(h)) return false;
  if (!UnpackAddress(h.addr_family, h.port, h.addr, from)) return false;  // a reply needs somewhere to go
  *payload = rest->substr(sizeof(h), h.payload_len);
  rest->remove_prefix(sizeof(h) + h.payload_len);
  return true;
}

bool DecodeUdpMessage(std::string_view mtext, ClientAddress* from, std::string_view* payload) {
  return NextUdpMessage(&mtext, from, payload) && mtext.empty();
}

key_t DeriveQueueKey(const std::string& path) {
  uint32_t h = 2166136261u;
  for (unsigned char c : path) {
    h ^= c;
    h *= 16777619u;
  }
  h &= 0x7fffffff;
  return static_cast<key_t>(h == 0 ? 1 : h);  // 0 is IPC_PRIVATE
}

int MsgQueue::Create(key_t key, bool* removed_stale) {
  *removed_stale = false;
  int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
  if (id >= 0 || errno != EEXIST) return id;
  int old = msgget(key, 0);
  if (old >= 0 && msgctl(old, IPC_RMID, nullptr) == 0) *removed_stale = true;
  return msgget(key, IPC_CREAT | IPC_EXCL | 0600);
}

int MsgQueue::Configure(int id, uid_t uid, gid_t gid, size_t qbytes) {
  msqid_ds ds{};
  if (msgctl(id, IPC_STAT, &ds) != 0) return errno;
  ds.msg_perm.uid = uid;
  ds.msg_perm.gid = gid;
  ds.msg_perm.mode = 0600;
  ds.msg_qbytes = qbytes;
  if (msgctl(id, IPC_SET, &ds) == 0) return 0;
  int err = errno;
  // Unprivileged: keep the kernel's byte limit but still set the rest. If
  // even that fails, that error says more (the owner may be wrong).
  if (msgctl(id, IPC_STAT, &ds) != 0) return errno;
  ds.msg_perm.uid = uid;
  ds.msg_perm.gid = gid;
  ds.msg_perm.mode = 0600;
  if (msgctl(id, IPC_SET, &ds) != 0) return errno;
  return err;
}

bool MsgQueue::Remove(int id) { return msgctl(id, IPC_RMID, nullptr) == 0; }

MsgQueue::SendResult MsgQueue::send(std::string_view mtext, int* err) {
  sendbuf_.resize(sizeof(long) + mtext.size());
  long mtype = 1;
  std::memcpy(sendbuf_.data(), &mtype, sizeof(mtype));
  std::memcpy(sendbuf_.data() + sizeof(long), mtext.data(), mtext.size());
  for (;;) {
    if (msgsnd(id_, sendbuf_.data(), mtext.size(), IPC_NOWAIT) == 0) return SendResult::kSent;
    if (errno == EINTR) continue;
    *err = errno;
    if (errno == EAGAIN) return SendResult::kFull;
    if (errno == EINVAL && mtext.size() > 0) return SendResult::kTooBig;  // over msgmax
    return SendResult::kError;
  }
}

ssize_t MsgQueue::receive(char* buf, size_t cap, bool nowait, int* err) {
  // buf holds long mtype + mtext.
  // MSG_NOERROR: an oversized message is cut (and then fails to decode)
  // instead of staying at the head of the queue forever.
  ssize_t n = msgrcv(id_, buf, cap - sizeof(long), 0, MSG_NOERROR | (nowait ? IPC_NOWAIT : 0));
  if (n < 0) *err = errno;
  return n;
}

}  // namespace solar::ipc
