// libFuzzer target: the whole input is the body of POST /rpc (JSON-RPC 2.0).
//
// Beyond the invariants of every reply (fuzz_check.hpp), each answer must be a JSON-RPC
// 2.0 response: "jsonrpc":"2.0", an "id", and either "result" or an "error" object with an
// integer "code"; a job call must echo back a valid id.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  fuzz::route_and_check("POST", "/rpc", body);
  return 0;
}
