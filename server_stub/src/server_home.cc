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

}  // namespace

Result<uint64_t> RestoreServerHome(const std::string& dir, const std::string& backup_file) {
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
    const Bytes random = crypto::RandomBytes(8);
    for (uint8_t b : random) epoch = (epoch << 8) | b;
    epoch = (epoch & 0x7FFF'FFFF'FFFF'FFFFull) | 1;
    MPP_ASSIGN_OR_RETURN(auto txn, (*storage)->Begin());
    MPP_RETURN_IF_ERROR(txn->StartEpoch(epoch));
    MPP_RETURN_IF_ERROR(txn->AppendAudit("admin", "server.restore", "epoch " + std::to_string(epoch),
                                         backup_file, 0));
    MPP_RETURN_IF_ERROR(txn->Commit());
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    std::filesystem::remove(DbPath(dir) + suffix, ec);
    std::filesystem::remove(staged + suffix, ec);
  }
  std::filesystem::rename(staged, DbPath(dir), ec);
  if (ec) return Error::Internal("cannot put the restored database in place: " + ec.message());
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
  return crypto::KeyFingerprint(keys.public_key);
}

Result<ServerHome> OpenServerHome(const std::string& dir) {
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
  MPP_ASSIGN_OR_RETURN(auto catalog, home.storage->LoadCatalog());
  if (catalog.first == 0) return Error::Corrupt("the server database has no catalog");
  MPP_ASSIGN_OR_RETURN(home.catalog, sync::Catalog::FromJson(catalog.second));
  return home;
}

}  // namespace mpp::server
