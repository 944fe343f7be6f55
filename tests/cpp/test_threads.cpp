#include "twinscore/threads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <numeric>

namespace twinscore {
namespace {

TEST(Threads, DefaultFollowsAffinityMask) {
  EXPECT_GE(DefaultNumThreads(), 1);
  ASSERT_TRUE(SetNumThreads(0).ok());
  EXPECT_EQ(NumThreads(), DefaultNumThreads());
}

TEST(Threads, SetAndRestore) {
  ASSERT_TRUE(SetNumThreads(1).ok());
  EXPECT_EQ(NumThreads(), 1);
  ASSERT_TRUE(SetNumThreads(3).ok());
  EXPECT_EQ(NumThreads(), 3);
  EXPECT_EQ(SetNumThreads(100000).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NumThreads(), 3);  // a refused value changes nothing
  ASSERT_TRUE(SetNumThreads(-1).ok());
  EXPECT_EQ(NumThreads(), DefaultNumThreads());
}

TEST(Threads, ParallelBlocksCoversEveryItemOnce) {
  for (int threads : {1, 2, 4}) {
    ASSERT_TRUE(SetNumThreads(threads).ok());
    for (size_t n : {0u, 1u, 999u, 1000u, 12345u}) {
      std::vector<std::atomic<int>> seen(n);
      ParallelBlocks(n, 100, [&](size_t b, size_t begin, size_t end) {
        EXPECT_EQ(begin, b * 100);
        for (size_t i = begin; i < end; ++i) seen[i]++;
      });
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i].load(), 1) << "item " << i;
    }
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
}

TEST(Threads, FirstErrorInBlockOrderWins) {
  ASSERT_TRUE(SetNumThreads(2).ok());
  for (int rep = 0; rep < 20; ++rep) {
    auto s = ParallelBlocksStatus(1000, 10, [](size_t b, size_t, size_t) -> absl::Status {
      if (b == 7 || b == 90) return absl::InvalidArgumentError(absl::StrCat("block ", b));
      return absl::OkStatus();
    });
    ASSERT_EQ(s.message(), "block 7");
  }
  ASSERT_TRUE(SetNumThreads(0).ok());
}

}  // namespace
}  // namespace twinscore
