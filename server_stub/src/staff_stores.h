// The two backends' staff stores (staff_store.h), made by their storages.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "mpp/postgres/postgres.h"
#include "mpp/server/staff_store.h"

namespace mpp::server {

// The tables (staff_accounts, staff_sessions) are in each backend's schema.

// Its own connection to the server's SQLite file at `path` (whose schema has the tables).
Result<std::unique_ptr<StaffStore>> OpenSqliteStaffStore(const std::string& path);

// Connections from the PostgreSQL storage's pool.
std::unique_ptr<StaffStore> MakePostgresStaffStore(
    std::function<Result<postgres::PooledConnection>()> connect);

}  // namespace mpp::server
