#pragma once
// The /dashboard page: HTML with its script and Chart.js inlined, built into the binary
// (server/dashboard/embed.cmake), so the page needs nothing but this server.

#include <string_view>

namespace server {

/// The whole page, UTF-8.
std::string_view dashboard_html() noexcept;

}  // namespace server
