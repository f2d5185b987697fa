// The server storage backends a test can run on, so one suite checks SQLite and PostgreSQL
// alike: the storage conformance suite takes the backend as its parameter, SyncWorld (and so
// the scenario suites and the simulation) from the environment, MPP_TEST_STORAGE.
#pragma once

#include <memory>
#include <string>

#include "mpp/server/storage.h"
#include "mpp/sync/result.h"

namespace mpp::test {

enum class StorageBackend { kSqlite, kPostgres };

const char* BackendName(StorageBackend backend);  // "sqlite", "postgres"

// MPP_TEST_STORAGE: "sqlite" (also when unset or empty) or "postgres". Anything else is a test
// failure (and SQLite), so a typo in CI never runs the SQLite suite under the PostgreSQL name.
StorageBackend BackendFromEnv();

// Skips the current test unless the scenario suites run on SQLite: for the tests about what only
// the embedded backend has (its file in the data directory, VACUUM INTO backups, the file's
// identity). `why` says what the test needs.
#define MPP_SKIP_UNLESS_SQLITE(why)                                                              \
  do {                                                                                           \
    if (::mpp::test::BackendFromEnv() != ::mpp::test::StorageBackend::kSqlite) {                 \
      GTEST_SKIP() << "SQLite only (MPP_TEST_STORAGE="                                           \
                   << ::mpp::test::BackendName(::mpp::test::BackendFromEnv()) << "): " << (why); \
    }                                                                                            \
  } while (0)

// A fresh, empty database of one backend. SQLite: a file at the path given (which need not
// exist yet; the caller's temp dir removes it). PostgreSQL: a new database of the test binary's
// throwaway cluster (SharedPgCluster), dropped when this is destroyed (with every connection
// still open to it), so a long simulation does not fill /dev/shm with databases.
class ScratchDatabase {
 public:
  // A failure to make the database is a test failure; location() is then empty.
  ScratchDatabase(StorageBackend backend, std::string sqlite_path);
  ~ScratchDatabase();
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  StorageBackend backend() const { return backend_; }
  // The SQLite file's path or the postgresql:// URL.
  const std::string& location() const { return location_; }

  // Opens a storage on the database, creating its schema the first time. Each call opens
  // another one on the same data: a restarted server, or a second server process.
  Result<std::unique_ptr<server::ServerStorage>> Open(
      const server::PostgresOptions& options = {}) const;

  // PostgreSQL only: replaces this database with a copy of `source` (CREATE DATABASE ...
  // TEMPLATE), a consistent copy of everything in it, as a restored backup would be. No one may
  // be connected to `source` (PostgreSQL waits a few seconds for sessions that are ending);
  // sessions on this database are ended.
  Result<void> ReplaceWithCopyOf(const ScratchDatabase& source);

 private:
  StorageBackend backend_;
  std::string location_;
  std::string pg_name_;  // the database's name, for dropping it; empty for SQLite
};

}  // namespace mpp::test
