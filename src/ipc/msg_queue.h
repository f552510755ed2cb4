// The SysV message queue between the UDP listener and the UDP workers
// (seed 003 §2; DESIGN.md "UDP path"), and the message that crosses it.
//
//   mtext: | UdpMessageHeader (32 bytes) | datagram payload | (one or more)
//
// The listener packs the datagrams of one receive into a few messages (one
// msgsnd and one msgrcv for several datagrams); each entry carries its own
// sender, so a message is a batch of independent requests.
//
// Sends never block (IPC_NOWAIT): a full queue drops the datagram, as UDP
// allows, and the caller counts it. Receives retry EINTR unless told to stop.
// (Swoole's MsgQueue retries EINTR and stays quiet on EAGAIN; unlike it, a
// failed create here is an error the caller sees.)
// Runs in: master (create, remove), UDP listener (send), UDP workers (receive).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "api/request.h"

namespace solar::ipc {

inline constexpr uint32_t kUdpMagic = 0x55445031;  // "UDP1"

struct UdpMessageHeader {
  uint32_t magic;
  uint32_t payload_len;
  uint16_t port;        // host order
  uint8_t addr_family;  // AF_INET or AF_INET6
  uint8_t reserved[5];
  uint8_t addr[16];
};
static_assert(sizeof(UdpMessageHeader) == 32, "part of the queue's message format");

// Builds mtext for one datagram into `out` (cleared first).
void EncodeUdpMessage(const ClientAddress& from, std::string_view payload, std::string* out);
// Appends one more datagram's entry to a message being built.
void AppendUdpMessage(const ClientAddress& from, std::string_view payload, std::string* out);
// Validates and splits mtext that holds exactly one entry. False for a short,
// foreign or inconsistent message.
bool DecodeUdpMessage(std::string_view mtext, ClientAddress* from, std::string_view* payload);
// Takes the first entry off *rest (a message of one or more entries). False
// for a short, foreign or inconsistent entry: the rest cannot be located.
bool NextUdpMessage(std::string_view* rest, ClientAddress* from, std::string_view* payload);

// Derives a queue key from a path (FNV-1a), never IPC_PRIVATE.
key_t DeriveQueueKey(const std::string& path);

class MsgQueue {
 public:
  // Creates the queue exclusively with mode 0600. If one with the key exists
  // (a crashed run), removes it first and sets *removed_stale. -1 + errno on error.
  static int Create(key_t key, bool* removed_stale);
  // Gives the queue to uid/gid (mode stays 0600) and sets its byte limit.
  // Returns 0, or the errno of the failed msgctl (EPERM above msgmnb unprivileged).
  static int Configure(int id, uid_t uid, gid_t gid, size_t qbytes);
  static bool Remove(int id);

  explicit MsgQueue(int id) : id_(id) {}
  int id() const { return id_; }

  enum class SendResult { kSent, kFull, kTooBig, kError };
  // mtext must be at most the kernel's msgmax.
  SendResult send(std::string_view mtext, int* err);
  // Blocking receive of one message into `buf` (capacity `cap`). Returns the
  // mtext length, or -1 with *err (EINTR is returned, not retried, so a stop
  // signal can end the wait; ENOMSG with nowait).
  ssize_t receive(char* buf, size_t cap, bool nowait, int* err);

 private:
  int id_;
  std::string sendbuf_;  // long mtype + mtext, reused
};

}  // namespace solar::ipc
