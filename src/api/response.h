// PUBLIC API. solar::Response: what Worker::process sends back.
// Runs in: worker processes. Includes nothing internal.
#pragma once

#include <string>
#include <string_view>

namespace solar {

class Response {
 public:
  // The reply's bytes; the listener adds the protocol's framing (a length prefix
  // for frame32, a newline for line, nothing for raw).
  void set(std::string body) { body_ = std::move(body); }
  void append(std::string_view bytes) { body_.append(bytes); }
  std::string& body() { return body_; }
  const std::string& body() const { return body_; }

  // Send nothing back for this request (the request still counts as answered).
  void noReply() { no_reply_ = true; }
  bool isNoReply() const { return no_reply_; }

  // Close the connection once this reply is written (TCP only).
  void closeAfterReply() { close_after_ = true; }
  bool isCloseAfterReply() const { return close_after_; }

  void clear() {
    body_.clear();
    no_reply_ = false;
    close_after_ = false;
  }

 private:
  std::string body_;
  bool no_reply_ = false;
  bool close_after_ = false;
};

}  // namespace solar
