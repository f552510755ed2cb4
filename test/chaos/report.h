// Runs in: solar-chaos. The final table: one line per figure, each PASS, FAIL
// or "-" (a figure that is reported but has no bound, such as connections
// closed by kills, which the server is allowed to close).
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace solar::chaos {

class Report {
 public:
  enum class Verdict { kInfo, kPass, kFail };

  void add(std::string phase, std::string figure, std::string value, Verdict verdict, std::string bound = "") {
    rows_.push_back({std::move(phase), std::move(figure), std::move(value), verdict, std::move(bound)});
  }
  // PASS when `ok`, else FAIL.
  void check(std::string phase, std::string figure, std::string value, bool ok, std::string bound) {
    add(std::move(phase), std::move(figure), std::move(value), ok ? Verdict::kPass : Verdict::kFail,
        std::move(bound));
  }
  void info(std::string phase, std::string figure, std::string value, std::string note = "") {
    add(std::move(phase), std::move(figure), std::move(value), Verdict::kInfo, std::move(note));
  }

  bool failed() const {
    for (const Row& r : rows_)
      if (r.verdict == Verdict::kFail) return true;
    return false;
  }

  void print(FILE* out) const {
    size_t wp = 5, wf = 6, wv = 5;
    for (const Row& r : rows_) {
      wp = std::max(wp, r.phase.size());
      wf = std::max(wf, r.figure.size());
      wv = std::max(wv, r.value.size());
    }
    auto line = [&](const std::string& p, const std::string& f, const std::string& v, const char* verdict,
                    const std::string& b) {
      std::fprintf(out, "%-*s  %-*s  %*s  %-4s  %s\n", static_cast<int>(wp), p.c_str(), static_cast<int>(wf),
                   f.c_str(), static_cast<int>(wv), v.c_str(), verdict, b.c_str());
    };
    line("phase", "figure", "value", "", "bound / note");
    std::string prev;
    for (const Row& r : rows_) {
      const char* v = r.verdict == Verdict::kPass ? "PASS" : r.verdict == Verdict::kFail ? "FAIL" : "-";
      line(r.phase == prev ? "" : r.phase, r.figure, r.value, v, r.bound);
      prev = r.phase;
    }
  }

 private:
  struct Row {
    std::string phase, figure, value;
    Verdict verdict;
    std::string bound;
  };
  std::vector<Row> rows_;
};

}  // namespace solar::chaos
