// PUBLIC API. solar::Response: what Worker::process sends back.
// Runs in: worker processes. Includes nothing internal.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace solar {

class Response {
 public:
  // The reply's bytes; the listener adds the protocol's framing (a length prefix
  // for frame32, a newline for line, nothing for raw).
  void set(std::string body) {
    body_ = std::move(body);
    view_.reset();
  }
  // Copies `bytes` into the reply's buffer, which keeps its capacity from one
  // request to the next: no allocation per request once it has grown (set()
  // hands over a string, so the buffer is the caller's allocation each time).
  void assign(std::string_view bytes) {
    body_.assign(bytes.data(), bytes.size());
    view_.reset();
  }
  // Replies with `bytes` without copying them at all. They are read after
  // process() returns, so they must stay unchanged until the next call of
  // process(): the request's payload() does (an echo is
  // `resp.reference(req.payload())`), as does memory the worker owns and
  // leaves alone until then. Anything that edits the reply afterwards
  // (append, body()) first takes a copy.
  void reference(std::string_view bytes) {
    body_.clear();
    view_ = bytes;
  }
  void append(std::string_view bytes) { body().append(bytes); }
  std::string& body() {
    own();
    return body_;
  }
  const std::string& body() const {
    own();
    return body_;
  }
  // What goes back: the referenced bytes, else the buffer (no copy either way).
  std::string_view bytes() const { return view_ ? *view_ : std::string_view(body_); }

  // Send nothing back for this request (the request still counts as answered).
  void noReply() { no_reply_ = true; }
  bool isNoReply() const { return no_reply_; }

  // Answer with an error instead of a reply: with FRAME32 the client gets an
  // error frame carrying `message` (length word with bit 31 set) and the
  // connection stays usable; LINE and RAW have no error frame, so the
  // connection is closed after the replies before it (as for an exception).
  // UDP sends nothing (the client times out). A throw from process() is
  // answered the same way, with the exception's what().
  void error(std::string_view message) {
    body_.assign(message.data(), message.size());
    view_.reset();
    error_ = true;
  }
  bool isError() const { return error_; }

  // Close the connection once this reply is written (TCP only).
  void closeAfterReply() { close_after_ = true; }
  bool isCloseAfterReply() const { return close_after_; }

  void clear() {
    body_.clear();
    view_.reset();
    no_reply_ = false;
    close_after_ = false;
    error_ = false;
  }

 private:
  void own() const {
    if (!view_) return;
    body_.assign(view_->data(), view_->size());
    view_.reset();
  }

  // mutable: a const body() of a referenced reply copies it in first.
  mutable std::string body_;
  mutable std::optional<std::string_view> view_;
  bool no_reply_ = false;
  bool close_after_ = false;
  bool error_ = false;
};

}  // namespace solar
