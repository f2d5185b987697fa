#include "support/sync_world.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "mpp/field/use_cases.h"

namespace mpp::test {
namespace {

store::InitOptions VanInit(const std::string& van_code, const std::string& catalog_json) {
  store::InitOptions o;
  o.van_code = van_code;
  o.officer = "Petugas " + van_code;
  o.catalog_json = catalog_json;
  o.kdf.memory_kib = 64;  // tests: cheap derivation
  o.kdf.time_cost = 1;
  return o;
}

// What `mpp-server restore` does after putting a SQLite backup in place (server_home.cc): a new
// epoch, the time it began, never the current one.
Result<void> StartNewEpoch(server::ServerStorage& storage, sync::Clock& clock) {
  MPP_ASSIGN_OR_RETURN(auto txn, storage.Begin());
  MPP_ASSIGN_OR_RETURN(uint64_t current, txn->Epoch());
  uint64_t epoch = static_cast<uint64_t>(std::max<int64_t>(clock.NowMillis(), 2));
  if (epoch == current) ++epoch;
  MPP_RETURN_IF_ERROR(txn->StartEpoch(epoch));
  MPP_RETURN_IF_ERROR(txn->AppendAudit("admin", "server.new_epoch",
                                       "epoch " + std::to_string(epoch),
                                       "restored from a copy of the database", clock.NowMillis()));
  return txn->Commit();
}

}  // namespace

SyncWorld::SyncWorld(uint64_t seed, std::string catalog_json, std::string parent_dir)
    : dir_holder_(parent_dir.empty() ? std::make_unique<TempDir>()
                                     : std::make_unique<TempDir>(parent_dir)),
      dir_(*dir_holder_),
      rng_(seed),
      backend_(BackendFromEnv()) {
  if (backend_ == StorageBackend::kPostgres) {
    db_ = std::make_unique<ScratchDatabase>(backend_, "");
    server_db_ = db_->location();
  }
  if (catalog_json.empty()) catalog_json = ReadFileOrDie(DefaultCatalogPath());
  auto fingerprint = server::InitServerHome(dir_.Sub("server"), catalog_json, server_db_);
  EXPECT_TRUE(fingerprint.ok()) << fingerprint.error().message();
  RestartServer();
}

void SyncWorld::StopServer() {
  services_.reset();
  loopback_.reset();
  home_ = {};
}

void SyncWorld::RestartServer() {
  StopServer();
  auto home = server::OpenServerHome(dir_.Sub("server"), clock_, server_db_);
  ASSERT_TRUE(home.ok()) << home.error().message();
  home_ = std::move(home).value();
  // Small pull pages, so every scenario and simulated seed also runs the paging: a lost ack
  // recovered on one page while its request comes whole or patched on a later one.
  server::ServiceOptions options;
  options.pull_page_items = 3;
  options.nik_index_key = home_.nik_key;  // the duplicate flag, as `mpp-server serve` runs it
  services_ = std::make_unique<server::Services>(*home_.storage, clock_, rng_, home_.private_key,
                                                 home_.catalog, options);
  loopback_ = std::make_unique<LoopbackTransport>(*services_);
  for (auto& van : vans_) van->link = std::make_unique<FaultyTransport>(*loopback_);
}

void SyncWorld::SnapshotVan(Van& van) {
  van.store.reset();  // closed: SQLite checkpoints its WAL into the file
  const std::string snapshot = van.dir + ".snapshot";
  std::filesystem::remove_all(snapshot);
  std::filesystem::copy(van.dir, snapshot, std::filesystem::copy_options::recursive);
  ReopenVan(van);
}

bool SyncWorld::HasVanSnapshot(const Van& van) const {
  return std::filesystem::exists(van.dir + ".snapshot");
}

void SyncWorld::RestoreVanSnapshot(Van& van) {
  ASSERT_TRUE(HasVanSnapshot(van));
  van.store.reset();
  std::filesystem::remove_all(van.dir);
  std::filesystem::copy(van.dir + ".snapshot", van.dir, std::filesystem::copy_options::recursive);
  ReopenVan(van);
}

void SyncWorld::SnapshotServer() {
  if (backend_ == StorageBackend::kPostgres) {
    StopServer();  // TEMPLATE copies a database no one is connected to
    if (db_snapshot_ == nullptr) db_snapshot_ = std::make_unique<ScratchDatabase>(backend_, "");
    auto copied = db_snapshot_->ReplaceWithCopyOf(*db_);
    EXPECT_TRUE(copied.ok()) << copied.error().message();
    RestartServer();
    return;
  }
  const std::string snapshot = dir_.Sub("server.snapshot");
  std::filesystem::remove(snapshot);
  auto done = home_.storage->BackupTo(snapshot);
  ASSERT_TRUE(done.ok()) << done.error().message();
}

bool SyncWorld::HasServerSnapshot() const {
  if (backend_ == StorageBackend::kPostgres) return db_snapshot_ != nullptr;
  return std::filesystem::exists(dir_.Sub("server.snapshot"));
}

void SyncWorld::RestoreServerSnapshot() {
  ASSERT_TRUE(HasServerSnapshot());
  StopServer();
  if (backend_ == StorageBackend::kPostgres) {
    ASSERT_OK(db_->ReplaceWithCopyOf(*db_snapshot_));
    auto storage = db_->Open();
    ASSERT_OK(storage);
    ASSERT_OK(StartNewEpoch(**storage, clock_));
    storage->reset();
    RestartServer();
    return;
  }
  auto epoch = server::RestoreServerHome(dir_.Sub("server"), dir_.Sub("server.snapshot"), clock_);
  ASSERT_TRUE(epoch.ok()) << epoch.error().message();
  RestartServer();
}

Van& SyncWorld::AddVan(const std::string& van_code) {
  auto van = std::make_unique<Van>();
  van->clock = std::make_unique<SkewedClock>(clock_);
  // One directory per store: a van code may have several devices (a re-installed tablet).
  van->dir = dir_.Sub("van-" + van_code + "-" + std::to_string(vans_.size()));
  van->van_code = van_code;
  auto catalog = home_.storage->LoadCatalog();
  EXPECT_TRUE(catalog.ok());
  auto store = store::VanStore::Create(van->dir, kVanPassphrase, VanInit(van_code, catalog->second),
                                       *van->clock, rng_);
  EXPECT_TRUE(store.ok()) << store.error().message();
  van->store = std::move(store).value();
  van->link = std::make_unique<FaultyTransport>(*loopback_);
  auto token = services_->devices.CreateEnrollmentToken(van_code, 3'600'000);
  EXPECT_TRUE(token.ok()) << token.error().message();
  auto enrolled = field::Enroll(*van->store, *van->link, "loopback:", *token,
                                services_->core.server_fingerprint(), rng_);
  EXPECT_TRUE(enrolled.ok()) << enrolled.error().message();
  vans_.push_back(std::move(van));
  return *vans_.back();
}

void SyncWorld::ReopenVan(Van& van) {
  van.store.reset();
  auto store = store::VanStore::Open(van.dir, *van.clock, rng_);
  ASSERT_TRUE(store.ok()) << store.error().message();
  ASSERT_TRUE((*store)->Unlock(kVanPassphrase).ok());
  van.store = std::move(store).value();
}

Result<field::SyncReport> SyncWorld::Sync(Van& van, field::SyncOptions options) {
  return field::RunSync(*van.store, *van.link, *van.clock, rng_, options);
}

sync::FieldMap SyncWorld::KtpFields(int serial) {
  char nik[64];
  snprintf(nik, sizeof nik, "611205410190%04d", serial);  // a woman born 1990-01-01
  return {{"nik", nik},
          {"name", "Siti Aminah"},
          {"birth_date", "1990-01-01"},
          {"address", "Jl. Sungai Raya Dalam No. 12, RT 003/RW 002, Desa Sungai Raya"},
          {"village_code", "61.12.05.2001"},
          {"phone", "081234567890"},
          {"alasan", "baru"},
          {"agama", "islam"},
          {"status_kawin", "kawin tercatat"},
          {"pekerjaan", "petani/pekebun"}};
}

sync::Request SyncWorld::RegisterKtp(Van& van, int serial) {
  auto r = field::RegisterRequest(*van.store, "dukcapil.ktp-el", KtpFields(serial));
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? *r : sync::Request{};
}

sync::Request SyncWorld::ServerState(const std::string& id) {
  auto found = storage().FindRequest(id);
  EXPECT_TRUE(found.ok() && found->has_value());
  return found.ok() && found->has_value() ? (*found)->request : sync::Request{};
}

}  // namespace mpp::test
