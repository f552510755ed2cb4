// The LINE framer (src/listener/framer.h, via MakeFramer) over an arbitrary
// client byte stream; the checks are in framer_fuzz.h.
#include "framer_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return solar::fuzz::FuzzFramer(solar::LINE, data, size);
}
