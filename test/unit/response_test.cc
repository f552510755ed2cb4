// solar::Response (src/api/response.h): the ways a worker hands back a reply,
// and what the worker process then sends (bytes()). reference() is the no-copy
// way: bytes() must be the caller's memory itself, and anything that edits the
// reply afterwards must work on a copy, never on the caller's bytes.
#include "api/response.h"

#include <string>

#include <gtest/gtest.h>

namespace solar {
namespace {

TEST(Response, ReferenceRepliesWithTheCallersBytesUncopied) {
  const std::string request = "the request's payload";
  Response resp;
  resp.reference(request);
  EXPECT_EQ(resp.bytes().data(), request.data());  // the same memory: no copy
  EXPECT_EQ(resp.bytes(), request);
}

TEST(Response, AppendAfterReferenceEditsACopy) {
  const std::string request = "echo";
  Response resp;
  resp.reference(request);
  resp.append("+more");
  EXPECT_EQ(resp.bytes(), "echo+more");
  EXPECT_EQ(request, "echo");  // the referenced bytes are left alone
  EXPECT_NE(resp.bytes().data(), request.data());
}

TEST(Response, BodyAfterReferenceHoldsTheReferencedBytes) {
  const std::string request = "abc";
  Response resp;
  resp.reference(request);
  const Response& view = resp;
  EXPECT_EQ(view.body(), "abc");  // const access copies in as well
  resp.body().push_back('d');
  EXPECT_EQ(resp.bytes(), "abcd");
  EXPECT_EQ(request, "abc");
}

TEST(Response, AssignSetErrorAndClearDropTheReference) {
  const std::string request = "referenced";
  Response resp;
  resp.reference(request);
  resp.assign("assigned");
  EXPECT_EQ(resp.bytes(), "assigned");

  resp.reference(request);
  resp.set("set");
  EXPECT_EQ(resp.bytes(), "set");

  resp.reference(request);
  resp.error("failed");
  EXPECT_TRUE(resp.isError());
  EXPECT_EQ(resp.bytes(), "failed");

  resp.reference(request);
  resp.clear();
  EXPECT_TRUE(resp.bytes().empty());
  EXPECT_FALSE(resp.isError());
}

TEST(Response, AReferenceReplacesEarlierBufferedBytes) {
  const std::string request = "second";
  Response resp;
  resp.assign("first");
  resp.reference(request);
  EXPECT_EQ(resp.bytes(), "second");
  EXPECT_EQ(resp.bytes().data(), request.data());
}

}  // namespace
}  // namespace solar
