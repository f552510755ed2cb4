#include "listener/framer.h"

#include <arpa/inet.h>

#include <cstring>

namespace solar {
namespace {

class Frame32Framer : public Framer {
 public:
  using Framer::Framer;
  Status next(std::string_view data, size_t, Frame* f) const override {
    if (data.size() < 4) {
      f->need = 4;
      return Status::kNeedMore;
    }
    uint32_t be;
    std::memcpy(&be, data.data(), 4);
    uint32_t len = ntohl(be);
    if (len > max_frame_) return Status::kTooLarge;
    if (data.size() - 4 < len) {
      f->need = 4 + size_t{len};
      return Status::kNeedMore;
    }
    f->payload_offset = 4;
    f->payload_len = len;
    f->consumed = 4 + size_t{len};
    return Status::kFrame;
  }
  Wrap wrap(size_t payload_len) const override { return lengthWord(0, payload_len); }
  bool encodeError(std::string_view message, Buffer* out) const override {
    if (message.size() > kMaxErrorMessage) {
      // Cut on a character boundary: never half of a UTF-8 sequence.
      size_t cut = kMaxErrorMessage;
      while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xc0) == 0x80) --cut;
      message = message.substr(0, cut);
    }
    const Wrap w = lengthWord(kErrorBit, message.size());
    out->ensureWritable(w.head_len + message.size());
    out->append(std::string_view(w.head, w.head_len));
    out->append(message);
    return true;
  }

 private:
  static constexpr uint32_t kErrorBit = 0x80000000u;
  static constexpr size_t kMaxErrorMessage = 64 * 1024;  // an error says what went wrong, briefly
  static Wrap lengthWord(uint32_t bits, size_t len) {
    Wrap w;
    const uint32_t be = htonl(bits | static_cast<uint32_t>(len));
    std::memcpy(w.head, &be, 4);
    w.head_len = 4;
    return w;
  }
};

class LineFramer : public Framer {
 public:
  using Framer::Framer;
  Status next(std::string_view data, size_t scanned, Frame* f) const override {
    size_t from = std::min(scanned, data.size());
    const void* nl = std::memchr(data.data() + from, '\n', data.size() - from);
    if (nl == nullptr) {
      // A trailing '\r' may be the first half of "\r\n": it does not count yet.
      const size_t limit = size_t{max_frame_} + (!data.empty() && data.back() == '\r');
      if (data.size() > limit) return Status::kTooLarge;
      f->need = 0;
      return Status::kNeedMore;
    }
    size_t end = static_cast<const char*>(nl) - data.data();
    size_t len = end;
    if (len > 0 && data[len - 1] == '\r') --len;
    if (len > max_frame_) return Status::kTooLarge;
    f->payload_offset = 0;
    f->payload_len = len;
    f->consumed = end + 1;
    return Status::kFrame;
  }
  Wrap wrap(size_t) const override {
    Wrap w;
    w.tail = "\n";
    return w;
  }
};

class RawFramer : public Framer {
 public:
  using Framer::Framer;
  Status next(std::string_view data, size_t, Frame* f) const override {
    if (data.empty()) return Status::kNeedMore;
    size_t len = std::min<size_t>(data.size(), max_frame_);
    f->payload_offset = 0;
    f->payload_len = len;
    f->consumed = len;
    return Status::kFrame;
  }
  Wrap wrap(size_t) const override { return Wrap(); }
};

}  // namespace

void Framer::encode(std::string_view payload, Buffer* out) const {
  const Wrap w = wrap(payload.size());
  out->ensureWritable(w.head_len + payload.size() + w.tail.size());
  for (std::string_view piece : {std::string_view(w.head, w.head_len), payload, w.tail}) {
    if (!piece.empty()) out->append(piece);  // never a memcpy from a null pointer
  }
}

std::unique_ptr<Framer> MakeFramer(Protocol protocol, uint32_t max_frame) {
  switch (protocol) {
    case LINE: return std::make_unique<LineFramer>(max_frame);
    case RAW: return std::make_unique<RawFramer>(max_frame);
    default: return std::make_unique<Frame32Framer>(max_frame);
  }
}

}  // namespace solar
