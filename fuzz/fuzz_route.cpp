// libFuzzer target: server::route on arbitrary (method, target, body).
//
// Input layout: the first byte picks the method: 'G' GET, 'P' POST, 'U' PUT, 'D' DELETE,
// 'H' HEAD, 'R' a raw method (the bytes up to the first space, any bytes at all); any
// other byte picks from the five by its value. Then the target, up to the first '\n';
// the rest is the body. So `G/1000000` is GET /1000000 and `P/rpc\n{...}` a JSON-RPC call.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static constexpr std::string_view methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD"};
  const char pick = static_cast<char>(data[0]);
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::string_view method;
  switch (pick) {
    case 'G':
      method = "GET";
      break;
    case 'P':
      method = "POST";
      break;
    case 'U':
      method = "PUT";
      break;
    case 'D':
      method = "DELETE";
      break;
    case 'H':
      method = "HEAD";
      break;
    case 'R': {
      const auto space = rest.find(' ');
      method = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
      break;
    }
    default:
      method = methods[static_cast<unsigned char>(pick) % std::size(methods)];
  }
  const auto newline = rest.find('\n');
  const std::string_view target = rest.substr(0, newline);
  const std::string_view body =
      newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);

  fuzz::route_and_check(method, target, body);
  return 0;
}
