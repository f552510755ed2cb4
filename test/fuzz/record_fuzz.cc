// RecordReader and ValidateHeader (src/ipc/record.h): a datagram as a worker or
// a listener receives it from its socketpair, every byte chosen by the input.
//
// Input: one byte of limits (listener count, message limit), then the datagram.
// Beyond "no crash", every record handed out must lie inside the datagram,
// pass ValidateHeader on its own, read back the same after AppendRecord, and
// keep its address through GetAddress/SetAddress; a datagram read without
// error must have been read to its end.
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "ipc/record.h"

using solar::ipc::AppendRecord;
using solar::ipc::GetAddress;
using solar::ipc::Limits;
using solar::ipc::ParseError;
using solar::ipc::RecordHeader;
using solar::ipc::RecordReader;
using solar::ipc::RecordSize;
using solar::ipc::SetAddress;
using solar::ipc::ValidateHeader;

namespace {

struct Record {
  RecordHeader header;
  std::string_view payload;
};

void CheckAddressRoundTrip(const RecordHeader& h) {
  solar::ClientAddress addr = GetAddress(h);
  (void)addr.toString();
  RecordHeader back;
  std::memset(&back, 0xa5, sizeof(back));
  SetAddress(&back, addr);
  FUZZ_CHECK(back.addr_family == h.addr_family);
  if (h.addr_family == AF_INET) {
    FUZZ_CHECK(back.port == h.port && std::memcmp(back.addr, h.addr, 4) == 0);
  } else if (h.addr_family == AF_INET6) {
    FUZZ_CHECK(back.port == h.port && std::memcmp(back.addr, h.addr, 16) == 0);
  } else {
    FUZZ_CHECK(back.port == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Limits limits;
  limits.listeners = static_cast<uint16_t>(1 + (data[0] & 7));
  limits.max_message = (data[0] & 8) ? 4096 : 4u << 20;
  const char* dgram = reinterpret_cast<const char*>(data + 1);
  const size_t len = size - 1;

  RecordReader reader(dgram, len, limits);
  std::vector<Record> records;
  Record r;
  size_t pos = 0;  // where the next record starts, as the reader must see it
  while (reader.next(&r.header, &r.payload)) {
    FUZZ_CHECK(reader.error() == ParseError::kNone);
    FUZZ_CHECK(pos + sizeof(RecordHeader) <= len);
    FUZZ_CHECK(std::memcmp(&r.header, dgram + pos, sizeof(RecordHeader)) == 0);
    FUZZ_CHECK(r.payload.data() == dgram + pos + sizeof(RecordHeader));
    FUZZ_CHECK(r.payload.size() == r.header.chunk_len);
    FUZZ_CHECK(pos + sizeof(RecordHeader) + r.payload.size() <= len);
    FUZZ_CHECK(ValidateHeader(r.header, len - pos - sizeof(RecordHeader), limits) == ParseError::kNone);
    FUZZ_CHECK(r.header.offset + uint64_t{r.header.chunk_len} <= r.header.total_len);
    FUZZ_CHECK(r.header.total_len <= limits.max_message);
    CheckAddressRoundTrip(r.header);
    records.push_back(r);
    FUZZ_CHECK(records.size() <= len / sizeof(RecordHeader));
    pos = std::min(len, pos + RecordSize(r.payload.size()));
  }
  FUZZ_CHECK(!reader.next(&r.header, &r.payload));  // stays at its end, or stopped
  if (reader.error() == ParseError::kNone) {
    FUZZ_CHECK(pos == len);
  } else {
    FUZZ_CHECK(pos < len);
    FUZZ_CHECK(std::strcmp(solar::ipc::ParseErrorName(reader.error()), "unknown") != 0);
  }

  // What was read, written again as a sender would, reads the same.
  std::string rewritten;
  for (const Record& rec : records) AppendRecord(&rewritten, rec.header, rec.payload);
  RecordReader again(rewritten.data(), rewritten.size(), limits);
  for (const Record& rec : records) {
    Record back;
    FUZZ_CHECK(again.next(&back.header, &back.payload));
    FUZZ_CHECK(std::memcmp(&back.header, &rec.header, sizeof(RecordHeader)) == 0);
    FUZZ_CHECK(back.payload == rec.payload);
  }
  FUZZ_CHECK(!again.next(&r.header, &r.payload) && again.error() == ParseError::kNone);
  return 0;
}
