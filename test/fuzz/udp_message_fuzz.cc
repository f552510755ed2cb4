// DecodeUdpMessage and NextUdpMessage (src/ipc/msg_queue.h): the mtext a UDP
// worker receives from the SysV queue (src/udp/udp_worker.cc), every byte
// chosen by the input. Walking a batch never reads outside it and always
// makes progress.
//
// Beyond "no crash": an accepted message has an IPv4 or IPv6 sender and a
// payload that is exactly the bytes after the 32-byte header; encoded again by
// EncodeUdpMessage it decodes to the same sender and payload.
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "fuzz_support.h"
#include "ipc/msg_queue.h"

using solar::ClientAddress;
using solar::ipc::DecodeUdpMessage;
using solar::ipc::EncodeUdpMessage;
using solar::ipc::NextUdpMessage;
using solar::ipc::UdpMessageHeader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view mtext(reinterpret_cast<const char*>(data), size);
  ClientAddress from;
  std::string_view payload;
  std::string_view rest = mtext;
  while (!rest.empty()) {
    const size_t before = rest.size();
    if (!NextUdpMessage(&rest, &from, &payload)) break;
    FUZZ_CHECK(rest.size() < before);
    FUZZ_CHECK(payload.data() >= mtext.data() && payload.data() + payload.size() <= mtext.data() + mtext.size());
  }
  if (!DecodeUdpMessage(mtext, &from, &payload)) return 0;
  FUZZ_CHECK(size >= sizeof(UdpMessageHeader));
  FUZZ_CHECK(payload.data() == mtext.data() + sizeof(UdpMessageHeader));
  FUZZ_CHECK(payload.size() == size - sizeof(UdpMessageHeader));
  FUZZ_CHECK(from.family() == AF_INET || from.family() == AF_INET6);
  (void)from.toString();
  (void)from.port();

  std::string again;
  EncodeUdpMessage(from, payload, &again);
  FUZZ_CHECK(again.size() == size);
  ClientAddress from2;
  std::string_view payload2;
  FUZZ_CHECK(DecodeUdpMessage(again, &from2, &payload2));
  FUZZ_CHECK(payload2 == payload);
  FUZZ_CHECK(std::memcmp(&from2.storage, &from.storage, sizeof(from.storage)) == 0);
  return 0;
}
