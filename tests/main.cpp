#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

namespace {

// Test cases that passed the filters in the run that just ended (-1 before one ends), and
// the names of those skipped by a decorator (doctest::skip), which do not count there.
int matched = -1;
std::vector<std::string> skipped_by_decorator;

// ctest runs each test case as --test-case=NAME. doctest runs nothing, and passes, when NAME
// matches no test case, as when CMake's list splitting cut a name at a ';': so a run with a
// test-case filter that matched nothing fails here instead.
struct match_counter : doctest::IReporter {
  explicit match_counter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    matched = static_cast<int>(stats.numTestCasesPassingFilters);
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData& tc) override {
    if (tc.m_skip) skipped_by_decorator.emplace_back(tc.m_name);
  }
};
REGISTER_LISTENER("match_counter", 1, match_counter);

// The --test-case filter given (commas unescaped), if any.
std::optional<std::string> test_case_filter(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    for (const std::string_view flag : {"--test-case=", "-tc="}) {
      if (!a.starts_with(flag)) continue;
      a.remove_prefix(flag.size());
      std::string name;
      for (std::size_t j = 0; j < a.size(); ++j) {
        if (a[j] == '\\' && j + 1 < a.size() && a[j + 1] == ',') ++j;
        name += a[j];
      }
      return name;
    }
  }
  return std::nullopt;
}

}  // namespace

// TEST_LOG=debug (any spdlog level name) shows the server's log while tests run.
int main(int argc, char** argv) {
  if (const char* level = std::getenv("TEST_LOG"))
    spdlog::set_level(spdlog::level::from_str(level));
  else
    spdlog::set_level(spdlog::level::warn);
  const int result = doctest::Context(argc, argv).run();
  const auto filter = test_case_filter(argc, argv);
  if (result == 0 && matched == 0 && filter &&
      std::find(skipped_by_decorator.begin(), skipped_by_decorator.end(), *filter) ==
          skipped_by_decorator.end()) {
    std::cerr << "no test case matches the --test-case filter (a name with ';' is cut in two "
                 "by CMake's test discovery: use another character)\n";
    return 1;
  }
  return result;
}
