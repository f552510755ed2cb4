#include "ipc/record.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

#include "ipc/address_codec.h"

namespace solar::ipc {

const char* ParseErrorName(ParseError e) {
  switch (e) {
    case ParseError::kNone: return "none";
    case ParseError::kTruncated: return "truncated";
    case ParseError::kBadMagic: return "bad magic";
    case ParseError::kBadVersion: return "bad version";
    case ParseError::kBadType: return "bad type";
    case ParseError::kBadFlags: return "bad flags";
    case ParseError::kBadLength: return "bad length";
    case ParseError::kBadListener: return "bad listener id";
    case ParseError::kBadAddress: return "bad address";
  }
  return "unknown";
}

ParseError ValidateHeader(const RecordHeader& h, size_t bytes_after_header, const Limits& limits) {
  if (h.magic != kRecordMagic) return ParseError::kBadMagic;
  if (h.version != kRecordVersion) return ParseError::kBadVersion;
  if (h.type == 0 || h.type > kMaxRecordType) return ParseError::kBadType;
  if (h.flags & ~kKnownFlags) return ParseError::kBadFlags;
  if (h.chunk_len > bytes_after_header) return ParseError::kTruncated;
  if (h.chunk_len > kMaxChunk) return ParseError::kBadLength;
  if (h.total_len > limits.max_message) return ParseError::kBadLength;
  if (uint64_t{h.offset} + h.chunk_len > h.total_len) return ParseError::kBadLength;
  // A first chunk starts at 0; a last chunk ends the message.
  if (((h.flags & kFlagFirst) != 0) != (h.offset == 0)) return ParseError::kBadLength;
  if (!(h.flags & kFlagMore) && h.offset + h.chunk_len != h.total_len) return ParseError::kBadLength;
  if (h.type != static_cast<uint8_t>(RecordType::kWorkerLost) && h.listener_id >= limits.listeners)
    return ParseError::kBadListener;
  if (h.addr_family != 0 && h.addr_family != AF_INET && h.addr_family != AF_INET6)
    return ParseError::kBadAddress;
  return ParseError::kNone;
}

bool RecordReader::next(RecordHeader* header, std::string_view* payload) {
  if (error_ != ParseError::kNone || pos_ >= len_) return false;
  size_t left = len_ - pos_;
  if (left < sizeof(RecordHeader)) {
    error_ = ParseError::kTruncated;
    return false;
  }
  // memcpy: the datagram buffer gives no alignment guarantee to trust.
  std::memcpy(header, data_ + pos_, sizeof(RecordHeader));
  ParseError e = ValidateHeader(*header, left - sizeof(RecordHeader), limits_);
  if (e != ParseError::kNone) {
    error_ = e;
    return false;
  }
  *payload = std::string_view(data_ + pos_ + sizeof(RecordHeader), header->chunk_len);
  size_t step = RecordSize(header->chunk_len);
  pos_ = step > left ? len_ : pos_ + step;  // the last record may omit its padding
  return true;
}

void SetAddress(RecordHeader* h, const ClientAddress& addr) { PackAddress(addr, &h->addr_family, &h->port, h->addr); }

ClientAddress GetAddress(const RecordHeader& h) {
  ClientAddress a;
  UnpackAddress(h.addr_family, h.port, h.addr, &a);
  return a;
}

RecordHeader MakeHeader(RecordType type, uint16_t listener_id, uint32_t conn_id, uint32_t conn_gen) {
  RecordHeader h;
  std::memset(&h, 0, sizeof(h));
  h.magic = kRecordMagic;
  h.version = kRecordVersion;
  h.type = static_cast<uint8_t>(type);
  h.flags = kFlagFirst;
  h.listener_id = listener_id;
  h.conn_id = conn_id;
  h.conn_gen = conn_gen;
  return h;
}

void AppendRecord(std::string* out, const RecordHeader& h, std::string_view payload) {
  size_t start = out->size();
  out->append(reinterpret_cast<const char*>(&h), sizeof(h));
  out->append(payload.data(), payload.size());
  out->resize(start + RecordSize(payload.size()), '\0');
}

}  // namespace solar::ipc
