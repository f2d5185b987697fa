// `mpp-server migrate --from DIR --db URL`: moves a regency's SQLite store into an empty
// PostgreSQL database, row for row, revs, seqs and ids kept. The vans' cursors carry over: a
// cursor is a rev, and every rev keeps its number (the rev sequence and each van's scope head
// continue above the highest copied), so a van goes on pulling from where it was, with nothing
// lost or sent twice. The keys stay in DIR, which the PostgreSQL servers then use as --data.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "mpp/sync/result.h"

namespace mpp::server {

struct MigrationReport {
  std::map<std::string, int64_t> rows;  // per table, as copied (and counted again in PostgreSQL)
};

// The server must not be serving `dir` meanwhile. Refuses a database that already holds data.
Result<MigrationReport> MigrateSqliteToPostgres(const std::string& dir, const std::string& url);

}  // namespace mpp::server
