#include "support/storage_backend.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "mpp/postgres/postgres.h"
#include "support/pg_cluster.h"

namespace mpp::test {
namespace {

constexpr std::chrono::milliseconds kConnect{5000};

// A session on the cluster's maintenance database, for creating and dropping test databases.
Result<postgres::Connection> Maintenance() {
  PgCluster* cluster = SharedPgCluster();
  if (cluster == nullptr || !cluster->running()) {
    return Error::Unavailable("the test's PostgreSQL cluster is not running");
  }
  return postgres::Connection::Open(cluster->url("postgres"), kConnect);
}

}  // namespace

const char* BackendName(StorageBackend backend) {
  return backend == StorageBackend::kPostgres ? "postgres" : "sqlite";
}

StorageBackend BackendFromEnv() {
  const char* env = std::getenv("MPP_TEST_STORAGE");
  const std::string name = env == nullptr ? "" : env;
  if (name.empty() || name == "sqlite") return StorageBackend::kSqlite;
  if (name == "postgres") return StorageBackend::kPostgres;
  ADD_FAILURE() << "MPP_TEST_STORAGE=" << name << ": expected sqlite or postgres";
  return StorageBackend::kSqlite;
}

ScratchDatabase::ScratchDatabase(StorageBackend backend, std::string sqlite_path)
    : backend_(backend) {
  if (backend_ == StorageBackend::kSqlite) {
    location_ = std::move(sqlite_path);
    return;
  }
  PgCluster* cluster = SharedPgCluster();
  if (cluster == nullptr) {
    ADD_FAILURE() << "no PostgreSQL cluster for the test";
    return;
  }
  location_ = cluster->CreateDatabase();
  pg_name_ = location_.substr(location_.rfind('/') + 1);
}

ScratchDatabase::~ScratchDatabase() {
  if (pg_name_.empty()) return;
  PgCluster* cluster = SharedPgCluster();
  if (cluster == nullptr || !cluster->running()) return;  // a crash test left it down
  // FORCE ends the sessions of a storage the test still holds (or leaked): the drop must not
  // wait on them.
  auto conn = Maintenance();
  Result<void> dropped = conn.ok()
                             ? conn->Exec("DROP DATABASE IF EXISTS " + pg_name_ + " WITH (FORCE)")
                             : Result<void>(conn.error());
  EXPECT_TRUE(dropped.ok()) << "dropping the test database " << pg_name_ << ": "
                            << dropped.error().message();
}

Result<std::unique_ptr<server::ServerStorage>> ScratchDatabase::Open(
    const server::PostgresOptions& options) const {
  if (backend_ == StorageBackend::kSqlite) return server::OpenSqliteStorage(location_);
  if (location_.empty()) return Error::Unavailable("no PostgreSQL database for the test");
  return server::OpenPostgresStorage(location_, options);
}

Result<void> ScratchDatabase::ReplaceWithCopyOf(const ScratchDatabase& source) {
  if (pg_name_.empty() || source.pg_name_.empty()) {
    return Error::InvalidInput("ReplaceWithCopyOf copies PostgreSQL test databases only");
  }
  MPP_ASSIGN_OR_RETURN(postgres::Connection conn, Maintenance());
  MPP_RETURN_IF_ERROR(conn.Exec("DROP DATABASE IF EXISTS " + pg_name_ + " WITH (FORCE)"));
  return conn.Exec("CREATE DATABASE " + pg_name_ + " TEMPLATE " + source.pg_name_);
}

}  // namespace mpp::test
