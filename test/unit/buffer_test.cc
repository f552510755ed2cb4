// Buffer (src/base/buffer.h): read/write indexes, compaction and growth.
#include "base/buffer.h"

#include <algorithm>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace solar {
namespace {

std::string Bytes(size_t n, size_t from = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (from + i) % 26);
  return s;
}

TEST(Buffer, NewBufferIsEmpty) {
  Buffer b;
  EXPECT_EQ(b.readable(), 0u);
  EXPECT_EQ(b.view(), "");
}

TEST(Buffer, AppendThenRetrieveKeepsTheRest) {
  Buffer b;
  b.append("hello ");
  b.append("world");
  EXPECT_EQ(b.view(), "hello world");
  b.retrieve(6);
  EXPECT_EQ(b.readable(), 5u);
  EXPECT_EQ(b.view(), "world");
}

TEST(Buffer, RetrieveMoreThanReadableEmptiesTheBuffer) {
  Buffer b;
  b.append("abc");
  b.retrieve(100);
  EXPECT_EQ(b.readable(), 0u);
  b.append("x");
  EXPECT_EQ(b.view(), "x");
}

TEST(Buffer, RetrievingEverythingRewindsSoTheSpaceIsReused) {
  Buffer b;
  b.append(Bytes(100));
  size_t cap = b.capacity();
  b.retrieve(100);
  b.append(Bytes(100));
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(b.view(), Bytes(100));
}

TEST(Buffer, EnsureWritableGivesAtLeastTheRequestedRoom) {
  Buffer b;
  for (size_t n : {1u, 7u, 4096u, 100000u}) {
    b.ensureWritable(n);
    EXPECT_GE(b.writable(), n);
  }
}

TEST(Buffer, WritePtrAndHasWrittenAppendInPlace) {
  Buffer b;
  b.append("ab");
  b.ensureWritable(3);
  std::memcpy(b.writePtr(), "cde", 3);
  b.hasWritten(3);
  EXPECT_EQ(b.view(), "abcde");
}

TEST(Buffer, CompactionMovesUnreadBytesToTheFrontWithoutGrowing) {
  Buffer b;
  b.append(Bytes(1000));
  size_t cap = b.capacity();
  b.retrieve(900);  // 100 unread bytes at 900..1000
  size_t room = cap - 100;
  b.ensureWritable(room);  // fits only once the consumed 900 bytes are reused
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_GE(b.writable(), room);
  EXPECT_EQ(b.view(), Bytes(100, 900));
  b.append(Bytes(room, 1000));
  EXPECT_EQ(b.view(), Bytes(100 + room, 900));
}

TEST(Buffer, GrowthKeepsUnreadBytesIntact) {
  Buffer b;
  b.append(Bytes(64));
  b.retrieve(10);
  b.append(Bytes(1 << 20, 64));
  EXPECT_EQ(b.readable(), 54u + (1u << 20));
  EXPECT_EQ(b.view(), Bytes(54 + (1 << 20), 10));
}

TEST(Buffer, InterleavedAppendAndRetrieveActLikeAQueue) {
  Buffer b;
  std::string model;
  size_t next = 0;
  for (int round = 0; round < 200; ++round) {
    size_t add = (round * 37) % 500 + 1;
    b.append(Bytes(add, next));
    model += Bytes(add, next);
    next += add;
    size_t take = (round * 53) % 400;
    b.retrieve(take);
    model.erase(0, std::min(take, model.size()));
    ASSERT_EQ(b.view(), model) << "round " << round;
  }
}

TEST(Buffer, ShrinkIfEmptyReleasesLargeCapacityOnlyWhenEmpty) {
  Buffer b;
  b.append(Bytes(100000));
  b.shrinkIfEmpty(4096);
  EXPECT_EQ(b.readable(), 100000u);  // not empty: kept
  b.retrieveAll();
  b.shrinkIfEmpty(4096);
  EXPECT_LE(b.capacity(), 4096u);
  b.append("again");
  EXPECT_EQ(b.view(), "again");
}

}  // namespace
}  // namespace solar
