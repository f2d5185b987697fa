// The server's data directory: server.db (storage), server.key (the Ed25519 private key, hex,
// mode 0600). init creates both; open loads them for `serve` and the administrator commands.
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
  sync::Catalog catalog;
};

// Creates the database and the key and loads the catalog. Returns the key's fingerprint.
// Refuses a directory that already has a server key.
Result<std::string> InitServerHome(const std::string& dir, const std::string& catalog_json);
// `clock` dates a new epoch, should the database file not be the one last opened.
Result<ServerHome> OpenServerHome(const std::string& dir, sync::Clock& clock);

// Replaces the database of `dir` (whose key stays) with the backup `backup_file` (made by
// `mpp-server backup`) and starts a new epoch: every van then learns, from its next signed
// answer, that the server went back in time, and re-sends what the server lost (PROTOCOL.md
// §4). The server must not be serving `dir` meanwhile (a running one notices the replaced file
// and refuses to acknowledge anything until restarted). Returns the new epoch.
Result<uint64_t> RestoreServerHome(const std::string& dir, const std::string& backup_file,
                                   sync::Clock& clock);

}  // namespace mpp::server
