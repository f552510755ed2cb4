// "host:port" parsing (src/base/socket_address.h): numeric addresses only.
#include "base/socket_address.h"

#include <netinet/in.h>

#include <string>

#include <gtest/gtest.h>

namespace solar {
namespace {

bool Parses(const std::string& text, SocketAddress* out = nullptr, std::string* error = nullptr) {
  SocketAddress a;
  std::string e;
  bool ok = ParseSocketAddress(text, out ? out : &a, error ? error : &e);
  return ok;
}

TEST(SocketAddress, ParsesIpv4AndPort) {
  SocketAddress a;
  std::string error;
  ASSERT_TRUE(ParseSocketAddress("127.0.0.1:7700", &a, &error)) << error;
  EXPECT_EQ(a.family(), AF_INET);
  EXPECT_EQ(a.port(), 7700);
  EXPECT_EQ(a.length, sizeof(sockaddr_in));
  EXPECT_EQ(a.toString(), "127.0.0.1:7700");
}

TEST(SocketAddress, ParsesBracketedIpv6AndPort) {
  SocketAddress a;
  std::string error;
  ASSERT_TRUE(ParseSocketAddress("[::1]:8080", &a, &error)) << error;
  EXPECT_EQ(a.family(), AF_INET6);
  EXPECT_EQ(a.port(), 8080);
  EXPECT_EQ(a.length, sizeof(sockaddr_in6));
  EXPECT_EQ(a.toString(), "[::1]:8080");
  ASSERT_TRUE(ParseSocketAddress("[2001:db8::7]:65535", &a, &error)) << error;
  EXPECT_EQ(a.toString(), "[2001:db8::7]:65535");
}

TEST(SocketAddress, PortZeroIsAccepted) {
  SocketAddress a;
  ASSERT_TRUE(Parses("0.0.0.0:0", &a));
  EXPECT_EQ(a.port(), 0);
  ASSERT_TRUE(Parses("[::]:0", &a));
  EXPECT_EQ(a.port(), 0);
}

TEST(SocketAddress, BadPortIsRefused) {
  for (const char* text : {"1.2.3.4:65536", "1.2.3.4:", "1.2.3.4:80x", "1.2.3.4:-1", "1.2.3.4:99999999999999999999",
                           "[::1]:", "[::1]:http"}) {
    std::string error;
    EXPECT_FALSE(Parses(text, nullptr, &error)) << text;
    EXPECT_NE(error.find("bad port"), std::string::npos) << text << ": " << error;
  }
}

TEST(SocketAddress, MissingPortIsRefused) {
  std::string error;
  EXPECT_FALSE(Parses("1.2.3.4", nullptr, &error));
  EXPECT_NE(error.find("1.2.3.4"), std::string::npos) << error;
  EXPECT_FALSE(Parses("", nullptr, &error));
  EXPECT_FALSE(Parses("[::1]8080", nullptr, &error));
  EXPECT_FALSE(Parses("[::1", nullptr, &error));
  EXPECT_FALSE(Parses("[::1]", nullptr, &error));
}

TEST(SocketAddress, LocalhostIsTheIpv4LoopbackAndOtherNamesAreRefusedWithTheReason) {
  std::string error;
  SocketAddress a;
  ASSERT_TRUE(Parses("localhost:80", &a, &error)) << error;
  EXPECT_EQ(a.toString(), "127.0.0.1:80");
  EXPECT_FALSE(Parses("db1.example:80", nullptr, &error));
  EXPECT_NE(error.find("\"db1.example\" is not an IPv4 or IPv6 address: names are not resolved"), std::string::npos)
      << error;
  EXPECT_FALSE(Parses("nonsense:1", nullptr, &error));
  EXPECT_FALSE(Parses("[localhost]:80", nullptr, &error));
  EXPECT_FALSE(Parses("256.1.1.1:80", nullptr, &error));
  EXPECT_FALSE(Parses(":80", nullptr, &error));
}

TEST(SocketAddress, SetPortChangesOnlyThePort) {
  SocketAddress a;
  ASSERT_TRUE(Parses("10.0.0.1:1", &a));
  a.setPort(4321);
  EXPECT_EQ(a.toString(), "10.0.0.1:4321");
  ASSERT_TRUE(Parses("[fe80::1]:1", &a));
  a.setPort(99);
  EXPECT_EQ(a.toString(), "[fe80::1]:99");
}

TEST(SocketAddress, UnknownFamilyFormatsAsDash) {
  SocketAddress a;
  EXPECT_EQ(a.toString(), "-");
  EXPECT_EQ(a.port(), 0);
}

}  // namespace
}  // namespace solar
