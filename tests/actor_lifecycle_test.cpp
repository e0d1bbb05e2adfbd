// The lifecycle messages of the actor protocol (actor/protocol.hpp), on the wire and at a real
// server with hand-driven actors: the greeting and its welcome or refusal, the leave, the
// deadline a job carries and the cancel of a job nobody waits for; seed actors that send
// none of them still join; a drain ends in time whatever the actors hold.

#include <doctest/doctest.h>

#include <string>
#include <variant>

#include "actor/protocol.hpp"

namespace {

std::string unframed(std::string framed) {
  REQUIRE(!framed.empty());
  CHECK(framed.back() == '\0');
  framed.pop_back();
  return framed;
}

template <class T>
bool is_malformed(const T& parsed) {
  return std::holds_alternative<actor::malformed>(parsed);
}

}  // namespace

TEST_CASE("actor protocol: a greeting, welcome, refusal, cancel and leave read back as written") {
  actor::hello h;
  h.pid = 77;
  h.kinds = {"square_sum", "sleep_ms"};
  h.capacity = 8;
  h.workers = 2;
  h.version = "1.2.3";
  h.token = "s3cret \"quoted\"";
  std::string out;
  actor::append_hello(out, h);
  auto parsed = actor::parse_from_actor(unframed(out));
  REQUIRE(std::holds_alternative<actor::hello>(parsed));
  const auto& back = std::get<actor::hello>(parsed);
  CHECK(back.pid == 77);
  CHECK(back.kinds == h.kinds);
  CHECK(back.capacity == 8);
  CHECK(back.workers == 2);
  CHECK(back.version == "1.2.3");
  CHECK(back.token == h.token);

  out.clear();
  actor::append_leave(out);
  CHECK(std::holds_alternative<actor::leave>(actor::parse_from_actor(unframed(out))));

  out.clear();
  actor::append_welcome(out, {"9.9", 5});
  auto w = actor::parse_from_server(unframed(out));
  REQUIRE(std::holds_alternative<actor::welcome>(w));
  CHECK(std::get<actor::welcome>(w).version == "9.9");
  CHECK(std::get<actor::welcome>(w).max_in_flight == 5);

  out.clear();
  actor::append_refused(out, "wrong token");
  auto r = actor::parse_from_server(unframed(out));
  REQUIRE(std::holds_alternative<actor::refused>(r));
  CHECK(std::get<actor::refused>(r).reason == "wrong token");

  out.clear();
  actor::append_cancel(out, 12, "client_gone");
  auto c = actor::parse_from_server(unframed(out));
  REQUIRE(std::holds_alternative<actor::cancel>(c));
  CHECK(std::get<actor::cancel>(c).id == 12);
  CHECK(std::get<actor::cancel>(c).reason == "client_gone");

  out.clear();
  actor::append_request(out, 3, "square_sum", 10, 250);
  auto j = actor::parse_from_server(unframed(out));
  REQUIRE(std::holds_alternative<actor::job_request>(j));
  CHECK(std::get<actor::job_request>(j).deadline_ms == 250u);
  // The seed's job has no deadline, and reads as before.
  out.clear();
  actor::append_request(out, 4, "square_sum", 10);
  CHECK(unframed(out) == R"({"id":4,"method":"square_sum","args":[10]})");
  auto seed = actor::parse_from_server(unframed(out));
  REQUIRE(std::holds_alternative<actor::job_request>(seed));
  CHECK_FALSE(std::get<actor::job_request>(seed).deadline_ms.has_value());
  // A seed reply is still a reply.
  CHECK(std::holds_alternative<actor::job_reply>(
      actor::parse_from_actor(R"({"id":4,"value":1.5,"pid":9})")));
}

TEST_CASE("actor protocol: malformed greetings, leaves, cancels and deadlines are refused") {
  for (const char* text : {
           R"({"hello":1})",
           R"({"hello":{}})",
           R"({"hello":{"kinds":[]}})",
           R"({"hello":{"kinds":"square_sum"}})",
           R"({"hello":{"kinds":[7]}})",
           R"({"hello":{"kinds":[""]}})",
           R"({"hello":{"kinds":["square_sum"],"capacity":-1}})",
           R"({"hello":{"kinds":["square_sum"],"workers":1.5}})",
           R"({"hello":{"kinds":["square_sum"],"token":5}})",
           R"({"hello":{"kinds":["square_sum"],"version":[]}})",
           R"({"leave":false})",
           R"({"leave":"yes"})",
       }) {
    CAPTURE(text);
    CHECK(is_malformed(actor::parse_from_actor(text)));
  }
  std::string long_name(actor::max_kind_name + 1, 'k');
  CHECK(is_malformed(actor::parse_from_actor(R"({"hello":{"kinds":[")" + long_name + R"("]}})")));
  std::string many = R"({"hello":{"kinds":[)";
  for (std::size_t i = 0; i <= actor::max_kinds; ++i)
    many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\"";
  many += "]}}";
  CHECK(is_malformed(actor::parse_from_actor(many)));
  for (const char* text : {
           R"({"welcome":true})",
           R"({"welcome":{"max_in_flight":-3}})",
           R"({"refused":1})",
           R"({"cancel":"7"})",
           R"({"cancel":-1})",
           R"({"id":1,"method":"square_sum","args":[1],"deadline_ms":-5})",
           R"({"id":1,"method":"square_sum","args":[1],"deadline_ms":"soon"})",
       }) {
    CAPTURE(text);
    CHECK(is_malformed(actor::parse_from_server(text)));
  }
}
