#include "support/staff_accounts.h"

namespace mpp::test {

ProcessResult AddStaffAccount(const std::vector<std::string>& server_argv,
                              const std::vector<std::string>& env, const std::string& user,
                              const std::string& role, const std::string& agency) {
  std::vector<std::string> argv = server_argv;
  for (const char* a : {"staff", "add", "--user"}) argv.emplace_back(a);
  argv.push_back(user);
  argv.emplace_back("--agency");
  argv.push_back(agency);
  argv.emplace_back("--role");
  argv.push_back(role);
  // A cheap hash: the tests are about who may do what, not about Argon2's cost.
  argv.emplace_back("--hash-memory-kib");
  argv.emplace_back("64");
  std::vector<std::string> with_password = env;
  with_password.push_back(std::string("MPP_STAFF_PASSWORD=") + kTestStaffPassword);
  return RunProcess(argv, with_password, std::chrono::seconds(60));
}

}  // namespace mpp::test
