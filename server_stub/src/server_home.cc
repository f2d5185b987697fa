#include "mpp/server/server_home.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mpp/server/nik_index.h"
#include "mpp/sync/crypto.h"

namespace mpp::server {
namespace {

std::filesystem::path KeyPath(const std::string& dir) {
  return std::filesystem::path(dir) / "server.key";
}
std::string DbPath(const std::string& dir) {
  return (std::filesystem::path(dir) / "server.db").string();
}
std::string NikKeyPath(const std::string& dir) {
  return (std::filesystem::path(dir) / "nik.key").string();
}
// Which file server.db was when a server last opened it ("device inode"). A database put back
// by hand (a copy of an older backup, a directory copied to another disk) is another file: the
// server cannot tell how far it went back, so it starts a new epoch, as `restore` does.
std::string IdentityPath(const std::string& dir) {
  return (std::filesystem::path(dir) / "server.db.identity").string();
}

std::string FileIdentity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_dev) + " " + std::to_string(st.st_ino);
}

Result<void> RecordIdentity(const std::string& dir) {
  std::ofstream out(IdentityPath(dir), std::ios::trunc);
  out << FileIdentity(DbPath(dir)) << "\n";
  out.close();
  if (!out.good()) return Error::Internal("cannot write " + IdentityPath(dir));
  ::chmod(IdentityPath(dir).c_str(), 0600);
  return Ok();
}

constexpr size_t kNikKeyBytes = 32;

// The database and its WAL and shared-memory files (SQLite gives those the database's mode),
// the identity file: owner only. The umask of mpp-server (077) already makes them so; this also
// holds for a library caller with another umask, and for files made by an older version.
void RestrictFiles(const std::string& dir) {
  for (const std::string& path : {DbPath(dir), DbPath(dir) + "-wal", DbPath(dir) + "-shm",
                                  IdentityPath(dir), KeyPath(dir).string(), NikKeyPath(dir)}) {
    ::chmod(path.c_str(), 0600);  // a file that does not exist is no error
  }
}

// Writes `bytes` as hex to a new file readable by the owner only (created 0600 before any
// secret is written to it).
Result<void> WriteSecretFile(const std::string& path, ByteView bytes) {
  const mode_t old_mask = umask(077);
  std::ofstream out(path, std::ios::trunc);
  umask(old_mask);
  out << ToHex(bytes) << "\n";
  out.close();
  if (!out.good()) return Error::Internal("cannot write " + path);
  ::chmod(path.c_str(), 0600);
  return Ok();
}

// nik.key: made at init; for a data directory made before the NIK index, made at its first
// open, and every stored request indexed then. Returns the key.
Result<Bytes> LoadOrCreateNikKey(const std::string& dir, ServerStorage& storage,
                                 const sync::Catalog& catalog, sync::Clock& clock) {
  if (std::ifstream in(NikKeyPath(dir)); in) {
    std::string hex;
    in >> hex;
    auto key = FromHex(hex);
    if (!key || key->size() != kNikKeyBytes) {
      return Error::Corrupt(NikKeyPath(dir) + " does not hold a 32-byte hex key");
    }
    return *key;
  }
  const Bytes key = crypto::RandomBytes(kNikKeyBytes);
  // Index what is stored before the key file exists: an interrupted open indexes again.
  MPP_ASSIGN_OR_RETURN(auto requests, storage.ListRequests({}));
  MPP_ASSIGN_OR_RETURN(auto txn, storage.Begin());
  size_t indexed = 0;
  for (const auto& row : requests) {
    const sync::Request& r = row.request;
    const sync::Service* service = catalog.FindService(r.service_id);
    if (service == nullptr) continue;
    const sync::FieldSpec* spec = NikFieldOf(*service);
    if (spec == nullptr) continue;
    auto field = r.fields.find(spec->name);
    if (field == r.fields.end() || field->second.value.empty()) continue;
    MPP_RETURN_IF_ERROR(txn->IndexNik(r.id, NikIndexHash(key, field->second.value), r.service_id));
    ++indexed;
  }
  MPP_RETURN_IF_ERROR(txn->AppendAudit("admin", "nik_index.create", "nik.key",
                                       std::to_string(indexed) + " requests indexed",
                                       clock.NowMillis()));
  MPP_RETURN_IF_ERROR(txn->Commit());
  MPP_RETURN_IF_ERROR(WriteSecretFile(NikKeyPath(dir), key));
  return key;
}

}  // namespace

// A new epoch is the time it began, in ms: it differs from every earlier one, also when one
// backup is restored twice (a counter kept in the database would go back with it). An epoch
// compares only for equality; a server clock set back makes a repeat as unlikely as hitting
// the same millisecond.
Result<uint64_t> StartEpoch(ServerStorage& storage, sync::Clock& clock, const std::string& why) {
  MPP_ASSIGN_OR_RETURN(auto txn, storage.Begin());
  MPP_ASSIGN_OR_RETURN(uint64_t current, txn->Epoch());
  uint64_t epoch = static_cast<uint64_t>(std::max<int64_t>(clock.NowMillis(), 2));
  if (epoch == current) ++epoch;
  MPP_RETURN_IF_ERROR(txn->StartEpoch(epoch));
  MPP_RETURN_IF_ERROR(txn->AppendAudit("admin", "server.new_epoch",
                                       "epoch " + std::to_string(epoch), why, clock.NowMillis()));
  MPP_RETURN_IF_ERROR(txn->Commit());
  return epoch;
}

Result<void> CheckDataDirPrivate(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return Error::NotFound("no data directory " + dir);
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Error::PermissionDenied("the data directory " + dir + " (mode " + mode +
                                   ") is open to other users and holds citizen data; run `chmod "
                                   "700 " +
                                   dir + "` and start again");
  }
  return Ok();
}

Result<uint64_t> RestoreServerHome(const std::string& dir, const std::string& backup_file,
                                   sync::Clock& clock) {
  if (!std::filesystem::exists(KeyPath(dir))) {
    return Error::NotFound("no server in " + dir + " (restore into the directory of the server " +
                           "whose key the vans pinned)");
  }
  if (!std::filesystem::is_regular_file(backup_file)) {
    return Error::NotFound("cannot read the backup " + backup_file);
  }
  // Work on a copy beside the database, then swap it in with one rename: an interrupted restore
  // leaves the old database as it was.
  const std::string staged = DbPath(dir) + ".restoring";
  std::error_code ec;
  std::filesystem::remove(staged, ec);
  std::filesystem::copy_file(backup_file, staged, ec);
  if (ec) return Error::InvalidInput("cannot copy the backup: " + ec.message());
  uint64_t epoch = 0;
  {
    auto storage = OpenSqliteStorage(staged);
    if (!storage) {
      std::filesystem::remove(staged, ec);
      return storage.error().WithContext("the backup " + backup_file);
    }
    MPP_ASSIGN_OR_RETURN(epoch, StartEpoch(**storage, clock, "restored from " + backup_file));
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    std::filesystem::remove(DbPath(dir) + suffix, ec);
    std::filesystem::remove(staged + suffix, ec);
  }
  std::filesystem::rename(staged, DbPath(dir), ec);
  if (ec) return Error::Internal("cannot put the restored database in place: " + ec.message());
  RestrictFiles(dir);
  MPP_RETURN_IF_ERROR(RecordIdentity(dir));
  return epoch;
}

// The storage of a home: SQLite's server.db in the data directory, or the PostgreSQL database
// `db` names.
Result<std::unique_ptr<ServerStorage>> OpenHomeStorage(const std::string& dir,
                                                       const std::string& db, bool serving) {
  if (db.empty()) return OpenSqliteStorage(DbPath(dir));
  if (!IsPostgresUrl(db)) {
    return Error::InvalidInput(
        "--db must be a postgresql:// URL (without --db, the server keeps "
        "its SQLite database in the data directory)");
  }
  PostgresOptions options;
  options.require_connection = !serving;
  return OpenPostgresStorage(db, options);
}

Result<std::string> InitServerHome(const std::string& dir, const std::string& catalog_json,
                                   const std::string& db) {
  MPP_ASSIGN_OR_RETURN(sync::Catalog catalog, sync::Catalog::FromJson(catalog_json));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error::InvalidInput("cannot create " + dir + ": " + ec.message());
  if (std::filesystem::exists(KeyPath(dir))) {
    return Error::Conflict("a server is already initialised in " + dir);
  }
  if (::chmod(dir.c_str(), 0700) != 0) {
    return Error::InvalidInput("cannot make " + dir + " private (chmod 700)");
  }
  MPP_ASSIGN_OR_RETURN(auto storage, OpenHomeStorage(dir, db, /*serving=*/false));
  MPP_ASSIGN_OR_RETURN(auto stored, storage->LoadCatalog());
  if (stored.first != 0) {
    // Another server's database: its vans pinned that server's key, which is not here.
    return Error::Conflict(
        "the database is already initialised by another server: copy that server's data "
        "directory (server.key, nik.key) to this machine instead of running init");
  }
  MPP_ASSIGN_OR_RETURN(auto keys, crypto::GenerateEd25519KeyPair());
  MPP_RETURN_IF_ERROR(WriteSecretFile(KeyPath(dir).string(), keys.private_key));
  MPP_RETURN_IF_ERROR(WriteSecretFile(NikKeyPath(dir), crypto::RandomBytes(kNikKeyBytes)));
  MPP_RETURN_IF_ERROR(storage->SaveCatalog(catalog.version(), catalog_json));
  RestrictFiles(dir);
  if (db.empty()) MPP_RETURN_IF_ERROR(RecordIdentity(dir));
  return crypto::KeyFingerprint(keys.public_key);
}

Result<ServerHome> OpenServerHome(const std::string& dir, sync::Clock& clock, const std::string& db,
                                  bool serving) {
  std::ifstream key_file(KeyPath(dir));
  if (!key_file) {
    return Error::NotFound("no server in " + dir + " (run `mpp-server init --data " + dir + "`)");
  }
  std::string hex;
  key_file >> hex;
  auto key = FromHex(hex);
  if (!key || key->size() != crypto::kEd25519PrivateKeyBytes) {
    return Error::Corrupt(KeyPath(dir).string() + " does not hold a 32-byte hex key");
  }
  ServerHome home;
  home.private_key = std::move(*key);
  MPP_ASSIGN_OR_RETURN(home.storage, OpenHomeStorage(dir, db, serving));
  if (!db.empty()) {
    // PostgreSQL: backups and restores are the database's own (README); no file identity.
    auto catalog = home.storage->LoadCatalog();
    if (!catalog && catalog.error().code() == ErrorCode::kUnavailable && serving) {
      // Serve anyway: every sync answers 503 until the database is back, and the first one
      // after takes the stored catalog (ServerCore::RefreshCatalog: any stored version is newer
      // than the empty catalog's 0).
      home.catalog = sync::Catalog{};
    } else {
      if (!catalog) return catalog.error();
      if (catalog->first == 0) return Error::Corrupt("the server database has no catalog");
      MPP_ASSIGN_OR_RETURN(home.catalog, sync::Catalog::FromJson(catalog->second));
    }
    MPP_ASSIGN_OR_RETURN(home.nik_key, LoadOrCreateNikKey(dir, *home.storage, home.catalog, clock));
    RestrictFiles(dir);
    return home;
  }
  std::string recorded;
  if (std::ifstream in(IdentityPath(dir)); in) std::getline(in, recorded);
  const std::string identity = FileIdentity(DbPath(dir));
  if (recorded != identity) {
    if (!recorded.empty()) {
      auto started = StartEpoch(*home.storage, clock,
                                "server.db was replaced since the server last opened it");
      if (!started) return started.error();
    }
    MPP_RETURN_IF_ERROR(RecordIdentity(dir));
  }
  MPP_ASSIGN_OR_RETURN(auto catalog, home.storage->LoadCatalog());
  if (catalog.first == 0) return Error::Corrupt("the server database has no catalog");
  MPP_ASSIGN_OR_RETURN(home.catalog, sync::Catalog::FromJson(catalog.second));
  MPP_ASSIGN_OR_RETURN(home.nik_key, LoadOrCreateNikKey(dir, *home.storage, home.catalog, clock));
  RestrictFiles(dir);
  return home;
}

}  // namespace mpp::server
