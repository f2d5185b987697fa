// The server's data directory: server.db (storage), server.key (the Ed25519 private key, hex),
// nik.key (the key of the NIK index, hex), server.db.identity. It holds citizen data: the
// directory is 0700 and every file in it 0600. init creates them; open loads them for `serve`
// and the administrator commands (and creates nik.key for a directory made before it existed).
#pragma once

#include <memory>
#include <string>

#include "mpp/server/storage.h"
#include "mpp/sync/catalog.h"
#include "mpp/sync/clock.h"

namespace mpp::server {

struct ServerHome {
  std::unique_ptr<ServerStorage> storage;
  Bytes private_key;
  Bytes nik_key;  // ServiceOptions::nik_index_key
  sync::Catalog catalog;
};

// Ok when no one but the owner may read, write or enter `dir`; otherwise one line naming the
// command that fixes it (`chmod 700 DIR`). `serve` refuses such a directory.
Result<void> CheckDataDirPrivate(const std::string& dir);

// `db` names the database: empty for SQLite's server.db in the data directory, or a
// postgresql:// URL (the keys stay in the data directory; several server processes, on one
// machine or several with a copy of it, share the database).
//
// Creates the database and the key and loads the catalog. Returns the key's fingerprint.
// Refuses a directory that already has a server key, and a database another server initialised.
Result<std::string> InitServerHome(const std::string& dir, const std::string& catalog_json,
                                   const std::string& db = "");
// `clock` dates a new epoch, should the SQLite file not be the one last opened. `serving`: a
// PostgreSQL database that cannot be reached now is no error (PostgresOptions).
Result<ServerHome> OpenServerHome(const std::string& dir, sync::Clock& clock,
                                  const std::string& db = "", bool serving = false);

// Starts a new epoch (audited with `why`): every van learns from its next signed answer that
// the server went back in time, and re-sends what it lacks. RestoreServerHome does it for
// SQLite; after a PostgreSQL database is restored with its own tools, `mpp-server new-epoch`.
Result<uint64_t> StartEpoch(ServerStorage& storage, sync::Clock& clock, const std::string& why);

// Replaces the database of `dir` (whose key stays) with the backup `backup_file` (made by
// `mpp-server backup`) and starts a new epoch: every van then learns, from its next signed
// answer, that the server went back in time, and re-sends what the server lost (PROTOCOL.md
// §4). The server must not be serving `dir` meanwhile (a running one notices the replaced file
// and refuses to acknowledge anything until restarted). Returns the new epoch.
Result<uint64_t> RestoreServerHome(const std::string& dir, const std::string& backup_file,
                                   sync::Clock& clock);

}  // namespace mpp::server
