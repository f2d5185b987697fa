#include "mpp/server/server_home.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "mpp/sync/crypto.h"

namespace mpp::server {
namespace {

std::filesystem::path KeyPath(const std::string& dir) {
  return std::filesystem::path(dir) / "server.key";
}
std::string DbPath(const std::string& dir) {
  return (std::filesystem::path(dir) / "server.db").string();
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
  if (!out.good()) return Error::Internal("cannot write " + IdentityPath(dir));
  return Ok();
}

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
  MPP_RETURN_IF_ERROR(
      txn->AppendAudit("admin", "server.new_epoch", "epoch " + std::to_string(epoch), why,
                       clock.NowMillis()));
  MPP_RETURN_IF_ERROR(txn->Commit());
  return epoch;
}

}  // namespace

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
  MPP_RETURN_IF_ERROR(RecordIdentity(dir));
  return epoch;
}

Result<std::string> InitServerHome(const std::string& dir, const std::string& catalog_json) {
  MPP_ASSIGN_OR_RETURN(sync::Catalog catalog, sync::Catalog::FromJson(catalog_json));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error::InvalidInput("cannot create " + dir + ": " + ec.message());
  if (std::filesystem::exists(KeyPath(dir))) {
    return Error::Conflict("a server is already initialised in " + dir);
  }
  MPP_ASSIGN_OR_RETURN(auto keys, crypto::GenerateEd25519KeyPair());
  {
    // Create the key file readable by the owner only, before any secret is written to it.
    const std::string path = KeyPath(dir).string();
    const mode_t old_mask = umask(077);
    std::ofstream out(path, std::ios::trunc);
    umask(old_mask);
    out << ToHex(keys.private_key) << "\n";
    if (!out.good()) return Error::Internal("cannot write " + path);
  }
  MPP_ASSIGN_OR_RETURN(auto storage, OpenSqliteStorage(DbPath(dir)));
  MPP_RETURN_IF_ERROR(storage->SaveCatalog(catalog.version(), catalog_json));
  MPP_RETURN_IF_ERROR(RecordIdentity(dir));
  return crypto::KeyFingerprint(keys.public_key);
}

Result<ServerHome> OpenServerHome(const std::string& dir, sync::Clock& clock) {
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
  MPP_ASSIGN_OR_RETURN(home.storage, OpenSqliteStorage(DbPath(dir)));
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
  return home;
}

}  // namespace mpp::server
