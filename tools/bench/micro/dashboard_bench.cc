// The staff dashboard's reads on a regency-sized store (issue 12's aims): 100,000 requests on
// the embedded SQLite backend, then the server time of the calls a browser makes, through
// StaffWeb::Handle (session check, scope, filters, JSON) exactly as HttpServer calls it:
//   - the inbox's first page (50 requests of an agency, newest first, with the counts);
//   - the same with a text filter (receipt or name contains);
//   - an export of every request as CSV (admin).
// Memory: peak_rss_growth_mb is how much the process's peak grew during the calls (the store's
// fill comes before): flat for a streamed export.
// The requests are the workload's 500 repeated with fresh ids and receipts, stored directly
// (SaveChange) rather than pushed: filling is not what is measured.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>

#include "bench_corpus.h"
#include "mpp/server/services.h"
#include "mpp/server/staff_accounts.h"
#include "mpp/staff_web/staff_web.h"

namespace mpp::bench {
namespace {

// MPP_DASHBOARD_BENCH_REQUESTS changes it (the CI smoke run stores a few thousand).
size_t StoredRequests() {
  const char* env = std::getenv("MPP_DASHBOARD_BENCH_REQUESTS");
  return env != nullptr && std::atol(env) > 0 ? static_cast<size_t>(std::atol(env)) : 100'000;
}

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

struct Regency {
  Regency() : clock(kStartMs + 1000), rng(kWorkloadSeed) {}

  Result<void> Open() {
    MPP_ASSIGN_OR_RETURN(home, CreateServerHome(dir.Sub("server")));
    services = std::make_unique<server::Services>(*home.storage, clock, rng, home.private_key,
                                                  home.catalog);
    server::DeviceRecord device;
    device.device_id = GetCorpus().device_id;
    device.van_code = kVanCode;
    device.public_key = GetCorpus().device_key.public_key;
    device.enrolled_ms = kStartMs;
    {  // a transaction holds the storage until it is destroyed
      MPP_ASSIGN_OR_RETURN(auto txn, home.storage->Begin());
      MPP_RETURN_IF_ERROR(txn->InsertDevice(device));
      MPP_RETURN_IF_ERROR(txn->Commit());
    }
    MPP_RETURN_IF_ERROR(Fill());
    accounts =
        std::make_unique<server::StaffAccounts>(services->core, crypto::Argon2Params{1, 64, 1});
    web = std::make_unique<staff_web::StaffWeb>(*services, *accounts);
    for (const auto& [user, agency, role] :
         {std::tuple{"admin", "*", server::StaffRole::kAdmin},
          std::tuple{"capil", "dukcapil", server::StaffRole::kOfficer}}) {
      MPP_RETURN_IF_ERROR(accounts->Add(user, agency, role, "bench-password-1", "bench"));
      MPP_ASSIGN_OR_RETURN(auto login,
                           accounts->Login(user, "bench-password-1", "127.0.0.1", nullptr));
      cookies[user] = "mpp_session=" + login.session_id;
    }
    return Ok();
  }

  // StoredRequests() requests: the corpus's creates with the n-th copy's own id and receipt.
  Result<void> Fill() {
    const Corpus& corpus = GetCorpus();
    MPP_ASSIGN_OR_RETURN(auto txn, home.storage->Begin());
    const size_t count = StoredRequests();
    for (size_t n = 0; n < count; ++n) {
      const sync::Mutation& m = corpus.mutations[n % corpus.mutations.size()];
      sync::Request r;
      char suffix[32];
      std::snprintf(suffix, sizeof suffix, "%012zx", n);
      r.id = m.request_id.substr(0, m.request_id.size() - 12) + suffix;
      std::snprintf(suffix, sizeof suffix, "%05zu", n);
      r.receipt = std::string(kVanCode) + "-2025" + std::to_string(1001 + n / 10'000).substr(1) +
                  "-" + suffix;
      r.service_id = m.service_id;
      r.device_id = corpus.device_id;
      r.officer = kOfficer;
      r.created = m.hlc;
      r.created.wall_ms += static_cast<int64_t>(n) * 1000;
      r.status_version = {r.created, m.origin};
      for (const auto& w : m.writes) r.fields[w.name] = {w.value, {r.created, m.origin}};
      const sync::Service* service = corpus.catalog.FindService(r.service_id);
      MPP_ASSIGN_OR_RETURN(auto row,
                           server::SaveChange(*txn, std::nullopt, r, service ? service->agency : "",
                                              kVanCode, false, r.created.wall_ms));
      (void)row;
    }
    return txn->Commit();
  }

  server::WebAnswer Get(const std::string& user, const std::string& target) {
    server::WebRequest request;
    request.method = "GET";
    request.target = target;
    request.client_address = "127.0.0.1";
    request.headers = {{"host", "127.0.0.1"}, {"cookie", cookies[user]}};
    return web->Handle(request);
  }

  TempDir dir;
  sync::FakeClock clock;
  sync::SeededRng rng;
  server::ServerHome home;
  std::unique_ptr<server::Services> services;
  std::unique_ptr<server::StaffAccounts> accounts;
  std::unique_ptr<staff_web::StaffWeb> web;
  std::map<std::string, std::string> cookies;
};

Regency* GetRegency(benchmark::State& state) {
  static Regency* regency = [] {
    auto* r = new Regency();  // lives for the process: the fill takes a while
    if (auto opened = r->Open(); !opened) {
      std::fprintf(stderr, "dashboard bench setup: %s\n", opened.error().message().c_str());
      std::abort();
    }
    return r;
  }();
  (void)state;
  return regency;
}

void RunCall(benchmark::State& state, const std::string& user, const std::string& target) {
  Regency* regency = GetRegency(state);
  const double rss_before = PeakRssMb();
  size_t bytes = 0;
  for (auto _ : state) {
    server::WebAnswer answer = regency->Get(user, target);
    if (answer.status != 200) {
      state.SkipWithError(
          ("status " + std::to_string(answer.status) + ": " + answer.body.substr(0, 200)).c_str());
      break;
    }
    bytes = answer.body.size();
    benchmark::DoNotOptimize(answer.body.data());
    // A streamed answer (the export) piece by piece, as the HTTP server writes it.
    while (answer.next_piece) {
      auto piece = answer.next_piece();
      if (!piece.ok() || piece->empty()) break;
      bytes += piece->size();
      benchmark::DoNotOptimize(piece->data());
    }
  }
  state.counters["answer_bytes"] = static_cast<double>(bytes);
  state.counters["peak_rss_mb"] = PeakRssMb();
  state.counters["peak_rss_growth_mb"] = PeakRssMb() - rss_before;
}

void BM_InboxFirstPage(benchmark::State& state) {
  RunCall(state, "capil", "/api/requests?per_page=50");
}
BENCHMARK(BM_InboxFirstPage)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_InboxStatusAndText(benchmark::State& state) {
  RunCall(state, "capil", "/api/requests?status=submitted&q=siti&per_page=50");
}
BENCHMARK(BM_InboxStatusAndText)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_ExportAllCsv(benchmark::State& state) {
  RunCall(state, "admin", "/api/export?format=csv&mask=1");
}
BENCHMARK(BM_ExportAllCsv)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace mpp::bench
