// The record: what crosses a listener<->worker socketpair (DESIGN.md "The record").
//
// One datagram holds one or more records, each a fixed 56-byte header followed by
// chunk_len payload bytes, padded to 8 bytes. Host byte order: both ends run on
// one host. Each field has one meaning (unlike Swoole's DataHead.fd), and every
// received header is validated before anything in it is trusted.
//
//   datagram: | RecordHeader | payload ...pad | RecordHeader | payload ...pad | ...
//
// A message larger than one datagram is sent as consecutive chunks of the same
// connection (offset 0 has kFirst; every chunk but the last has kMore) and is
// reassembled by the receiver.
//
// Runs in: listener, worker, master (which writes kWorkerLost notices).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/request.h"

namespace solar::ipc {

inline constexpr uint16_t kRecordMagic = 0x534c;  // "SL"
inline constexpr uint8_t kRecordVersion = 1;

enum class RecordType : uint8_t {
  kOpen = 1,        // listener -> worker: a connection was assigned to you
  kData = 2,        // listener -> worker: a request (or a chunk of one)
  kClose = 3,       // listener -> worker: the connection is gone
  kReply = 4,       // worker -> listener: the answer to one kData request
  kHello = 5,       // listener -> worker: listener (re)started; conn_gen = its epoch
  kWorkerLost = 6,  // master -> listener: worker `conn_id` died; payload = HeldEntry[]
  kWorkerState = 7, // master -> listener: worker `conn_id` cannot start (kFlagWorkerDown) or serves again
};
inline constexpr uint8_t kMaxRecordType = 7;

enum RecordFlags : uint16_t {
  kFlagFirst = 1 << 0,       // first chunk of a message
  kFlagMore = 1 << 1,        // more chunks of this message follow
  kFlagNoReply = 1 << 2,     // kReply: nothing to write to the client
  kFlagCloseAfter = 1 << 3,  // kReply: close the connection after writing
  kFlagOverflow = 1 << 4,    // kWorkerLost: the held list overflowed; assume all held
  kFlagWorkerDown = 1 << 5,  // kWorkerState: the worker cannot start; without it: it serves again
  kFlagError = 1 << 6,       // kReply: the payload is an error message (Response::error, a throw)
};
inline constexpr uint16_t kKnownFlags = 0x7f;

struct RecordHeader {
  uint16_t magic;
  uint8_t version;
  uint8_t type;          // RecordType
  uint16_t flags;        // RecordFlags
  uint16_t listener_id;  // the listener that owns the connection
  uint32_t conn_id;      // connection slot in that listener (kWorkerLost: the worker slot)
  uint32_t conn_gen;     // generation of the slot: a reused slot never matches an old reply
  uint64_t seq;          // request number on the connection (kData, kReply)
  uint32_t chunk_len;    // payload bytes in this record
  uint32_t total_len;    // payload bytes of the whole message
  uint32_t offset;       // where this chunk starts in the message
  uint16_t port;         // client port, host order
  uint8_t addr_family;   // 0, AF_INET or AF_INET6
  uint8_t reserved;
  uint8_t addr[16];      // client address (4 or 16 bytes used)
};
static_assert(sizeof(RecordHeader) == 56, "the record header is part of the IPC contract");

inline constexpr size_t kRecordAlign = 8;
inline constexpr size_t AlignUp(size_t n) { return (n + kRecordAlign - 1) & ~(kRecordAlign - 1); }

// The largest datagram sent on a socketpair. 64 KiB fits the default socket
// buffer (wmem_default 208 KiB) with room, so no setsockopt is needed to send
// one; larger messages are chunked.
inline constexpr size_t kMaxDatagram = 64 * 1024;
inline constexpr size_t kMaxChunk = kMaxDatagram - sizeof(RecordHeader);
// A listener packs at most this many records in one datagram, which bounds what
// a worker holds at once (the scoreboard's held list).
inline constexpr size_t kMaxRecordsPerDatagram = 64;

enum class ParseError {
  kNone = 0,
  kTruncated,    // fewer bytes than a header, or than chunk_len says
  kBadMagic,
  kBadVersion,
  kBadType,
  kBadFlags,
  kBadLength,    // chunk beyond total, or total above the limit
  kBadListener,  // listener id out of range
  kBadAddress,
};
const char* ParseErrorName(ParseError e);

struct Limits {
  uint32_t max_message = 4u << 20;  // largest total_len accepted
  uint16_t listeners = 1;           // listener ids must be below this
};

// Reads records out of one received datagram. Validation stops at the first bad
// record: the rest of the datagram cannot be located and is dropped by the caller.
class RecordReader {
 public:
  RecordReader(const char* data, size_t len, const Limits& limits)
      : data_(data), len_(len), limits_(limits) {}

  // Returns true and fills header/payload for the next record; false at the end
  // of the datagram or on an invalid record (then error() says which).
  bool next(RecordHeader* header, std::string_view* payload);
  ParseError error() const { return error_; }

 private:
  const char* data_;
  size_t len_;
  size_t pos_ = 0;
  Limits limits_;
  ParseError error_ = ParseError::kNone;
};

// Validates one header whose bytes are all present. Exposed for tests.
ParseError ValidateHeader(const RecordHeader& h, size_t bytes_after_header, const Limits& limits);

// Fills the address fields of `h` from `addr`.
void SetAddress(RecordHeader* h, const ClientAddress& addr);
ClientAddress GetAddress(const RecordHeader& h);

RecordHeader MakeHeader(RecordType type, uint16_t listener_id, uint32_t conn_id, uint32_t conn_gen);

// Appends one record (header + payload + padding) to `out`.
void AppendRecord(std::string* out, const RecordHeader& h, std::string_view payload);

// Bytes one record with `payload_len` payload bytes takes in a datagram.
inline size_t RecordSize(size_t payload_len) { return AlignUp(sizeof(RecordHeader) + payload_len); }

// The held list entry a master sends in kWorkerLost (fixed-size POD).
struct HeldEntry {
  uint32_t conn_id;
  uint32_t conn_gen;
  uint64_t seq;
};
static_assert(sizeof(HeldEntry) == 16);

}  // namespace solar::ipc
