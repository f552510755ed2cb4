// The Reassembler (src/ipc/channel.h) driven as a worker drives it
// (src/worker/worker_requests.cc): the records of a datagram decoded by
// RecordReader, kData chunks fed under the connection's key, kOpen and kClose
// taking the connection's partial message, kHello taking every partial of
// that listener. The listener's use for replies is the same feed().
//
// Input: the datagram (limits: 4 listeners, 4 MiB messages).
// Beyond "no crash", kept beside the reassembler: how many bytes each key has
// buffered. A complete message is exactly total_len bytes and ends with the
// chunk that completed it; a whole message in one record is that record's
// chunk; a discard or an orphan leaves the key empty; partials() matches.
#include <cstring>
#include <map>
#include <string>

#include "fuzz_support.h"
#include "ipc/channel.h"
#include "ipc/record.h"

using solar::ipc::kFlagFirst;
using solar::ipc::kFlagMore;
using solar::ipc::Limits;
using solar::ipc::Reassembler;
using solar::ipc::RecordHeader;
using solar::ipc::RecordReader;
using solar::ipc::RecordType;

namespace {

uint64_t ConnKey(uint16_t listener, uint32_t conn_id) { return (uint64_t{listener} << 32) | conn_id; }

struct Expected {
  RecordHeader first;
  size_t buffered = 0;
};

void Take(Reassembler& r, std::map<uint64_t, Expected>& model, uint64_t key) {
  RecordHeader first;
  const bool had = r.take(key, &first);
  auto it = model.find(key);
  FUZZ_CHECK(had == (it != model.end()));
  if (had) {
    FUZZ_CHECK(std::memcmp(&first, &it->second.first, sizeof(first)) == 0);
    model.erase(it);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Limits limits;
  limits.listeners = 4;
  RecordReader reader(reinterpret_cast<const char*>(data), size, limits);
  Reassembler reassembler;
  std::map<uint64_t, Expected> model;
  RecordHeader h;
  std::string_view chunk;
  while (reader.next(&h, &chunk)) {
    const uint64_t key = ConnKey(h.listener_id, h.conn_id);
    switch (static_cast<RecordType>(h.type)) {
      case RecordType::kData:
      case RecordType::kReply: {
        std::string_view message;
        RecordHeader discarded;
        bool was_discarded = true;  // feed() must clear it
        const auto it = model.find(key);
        const bool had_partial = it != model.end();
        const RecordHeader before = had_partial ? it->second.first : RecordHeader{};
        const auto st = reassembler.feed(key, h, chunk, &message, &discarded, &was_discarded);
        const bool first = h.flags & kFlagFirst, more = h.flags & kFlagMore;
        if (was_discarded) {
          FUZZ_CHECK(had_partial);
          FUZZ_CHECK(std::memcmp(&discarded, &before, sizeof(discarded)) == 0);
        }
        if (first) FUZZ_CHECK(was_discarded == had_partial);  // a new start replaces a partial
        switch (st) {
          case Reassembler::Status::kComplete:
            FUZZ_CHECK(!more);
            FUZZ_CHECK(message.size() == h.total_len);
            FUZZ_CHECK(message.size() >= chunk.size() && message.substr(message.size() - chunk.size()) == chunk);
            if (first) FUZZ_CHECK(message.data() == chunk.data());
            if (!first) FUZZ_CHECK(had_partial && !was_discarded && it->second.buffered == h.offset);
            model.erase(key);
            break;
          case Reassembler::Status::kPartial:
            FUZZ_CHECK(more);
            if (first) {
              model[key] = Expected{h, chunk.size()};
            } else {
              FUZZ_CHECK(had_partial && !was_discarded && it->second.buffered == h.offset);
              it->second.buffered += chunk.size();
            }
            FUZZ_CHECK(model[key].buffered <= h.total_len);
            break;
          case Reassembler::Status::kOrphan:
            FUZZ_CHECK(!first);
            FUZZ_CHECK(!had_partial || was_discarded);
            model.erase(key);
            break;
        }
        break;
      }
      case RecordType::kOpen:
      case RecordType::kClose:
        Take(reassembler, model, key);
        break;
      case RecordType::kHello: {
        size_t seen = 0;
        std::vector<uint64_t> gone;
        reassembler.forEachPartial([&](uint64_t k, const RecordHeader& first) {
          ++seen;
          FUZZ_CHECK(model.count(k) == 1);
          FUZZ_CHECK(std::memcmp(&first, &model[k].first, sizeof(first)) == 0);
          if ((k >> 32) == h.listener_id) gone.push_back(k);
        });
        FUZZ_CHECK(seen == model.size());
        for (uint64_t k : gone) Take(reassembler, model, k);
        break;
      }
      case RecordType::kWorkerLost:
        reassembler.drop(key);
        model.erase(key);
        break;
      default:  // the master's notices: no connection state here
        break;
    }
    FUZZ_CHECK(reassembler.partials() == model.size());
  }
  return 0;
}
