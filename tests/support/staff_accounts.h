// Staff accounts for tests that run mpp-server's staff commands: `--by U` names a real account.
#pragma once

#include <string>
#include <vector>

#include "support/process_util.h"

namespace mpp::test {

inline constexpr char kTestStaffPassword[] = "staff-password-for-tests";

// Runs `mpp-server staff add --user USER --agency AGENCY --role ROLE` with the password in
// MPP_STAFF_PASSWORD. `server_argv` is the binary and its global options (--data DIR, --db URL);
// `env` the environment the test's other server commands get.
ProcessResult AddStaffAccount(const std::vector<std::string>& server_argv,
                              const std::vector<std::string>& env, const std::string& user,
                              const std::string& role = "admin", const std::string& agency = "*");

}  // namespace mpp::test
