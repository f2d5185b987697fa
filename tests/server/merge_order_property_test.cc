// Property test of the whole sync loop (DESIGN.md §4 per-field merge, §6 invariants 1 and 3):
// two or three vans edit fields of their own requests offline while staff edit the same
// requests on the server, then the vans sync in a random order, with lost answers, duplicated
// and dropped requests and varying batch sizes. Whatever the order:
//   - each field ends with the value of the write with the highest version (here: the last one
//     made, as every edit is made at a later clock time), the same for every order;
//   - each van's mutations are applied exactly once;
//   - after every van syncs twice, each van's view of each of its requests equals the server's.
// Each case runs the same edits under two different sync orders, on fresh vans of one server.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "mpp/field/use_cases.h"
#include "support/sync_world.h"

namespace mpp::test {
namespace {

using sync::RequestStatus;

constexpr char kKtp[] = "dukcapil.ktp-el";
// Vans correct the citizen's details; staff annotate and fix the phone number. "catatan" and
// "phone" are written by both sides, so concurrent writes (and conflict records) happen.
const std::vector<std::string> kVanFields = {"phone", "address", "catatan"};
const std::vector<std::string> kStaffFields = {"catatan", "kode_pos", "phone"};
constexpr int kStaffStatusStep = 3;  // a staff edit with this field index moves the status on

struct Edit {
  bool by_staff = false;
  int van = 0;      // the van that owns the request
  int request = 0;  // which of its requests
  int field = 0;    // index into kVanFields or kStaffFields (or kStaffStatusStep)
};

struct Script {
  int vans = 2;
  int requests_per_van = 1;
  std::vector<Edit> edits;  // made in this order, each at a later clock time
};

struct SyncStep {
  int van = 0;
  Fault fault = Fault::kNone;  // on the first request of this sync
  size_t batch_size = 500;
};

using Key = std::pair<int, int>;  // (van, request)

struct Outcome {
  std::map<Key, std::map<std::string, std::string>> fields;
  std::map<Key, RequestStatus> status;
  size_t conflicts = 0;
};

int Serial(int van, int request) { return van * 10 + request + 1; }

std::string ValueFor(const std::string& field, size_t edit) {
  char buf[48];
  if (field == "phone") {
    snprintf(buf, sizeof buf, "0812%08zu", edit);
  } else if (field == "kode_pos") {
    snprintf(buf, sizeof buf, "78%03zu", edit % 1000);
  } else {
    snprintf(buf, sizeof buf, "%s edit %zu", field.c_str(), edit);
  }
  return buf;
}

// A uniform choice in [min, max). (rc::gen::inRange scales its range with the test size, which
// starts near zero: that would make the first cases pick the first field of each list only.)
int Pick(int min, int max) { return *rc::gen::resize(100, rc::gen::inRange(min, max)); }

Script GenScript() {
  Script s;
  s.vans = Pick(2, 4);
  s.requests_per_van = Pick(1, 3);
  const int edits = Pick(3, 13);
  for (int i = 0; i < edits; ++i) {
    Edit e;
    e.by_staff = Pick(0, 2) == 1;
    e.van = Pick(0, s.vans);
    e.request = Pick(0, s.requests_per_van);
    // Mostly the two fields both sides write, so that concurrent writes are common.
    static const int kVanPicks[] = {0, 0, 2, 2, 1};       // phone, phone, catatan, catatan, address
    static const int kStaffPicks[] = {0, 0, 2, 2, 1, 3};  // catatan x2, phone x2, kode_pos, status
    e.field = e.by_staff ? kStaffPicks[Pick(0, 6)] : kVanPicks[Pick(0, 5)];
    s.edits.push_back(e);
  }
  return s;
}

std::vector<SyncStep> GenPlan(int vans) {
  static const Fault kFaults[] = {Fault::kNone, Fault::kNone, Fault::kCutAnswer, Fault::kDuplicate,
                                  Fault::kDropRequest};
  static const size_t kBatchSizes[] = {1, 2, 500};
  std::vector<SyncStep> plan;
  const int steps = Pick(1, 3 * vans + 1);
  for (int i = 0; i < steps; ++i) {
    SyncStep step;
    step.van = Pick(0, vans);
    step.fault = kFaults[Pick(0, 5)];
    step.batch_size = kBatchSizes[Pick(0, 3)];
    plan.push_back(step);
  }
  return plan;
}

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kCutAnswer:
      return " (answer lost)";
    case Fault::kDuplicate:
      return " (delivered twice)";
    case Fault::kDropRequest:
      return " (request lost)";
    default:
      return "";
  }
}

// The case in words, printed by RapidCheck for a failing (shrunk) case.
std::string Describe(const Script& s, const std::vector<SyncStep>& first,
                     const std::vector<SyncStep>& second) {
  std::string out = std::to_string(s.vans) + " vans, " + std::to_string(s.requests_per_van) +
                    " request(s) each; edits in order:\n";
  for (size_t i = 0; i < s.edits.size(); ++i) {
    const Edit& e = s.edits[i];
    out += "  " + std::to_string(i) + ". " +
           (e.by_staff ? "staff" : "van " + std::to_string(e.van)) + " sets " +
           (e.by_staff && e.field == kStaffStatusStep
                ? std::string("the next status")
                : (e.by_staff ? kStaffFields[e.field] : kVanFields[e.field])) +
           " of van " + std::to_string(e.van) + "'s request " + std::to_string(e.request) + "\n";
  }
  for (const auto* plan : {&first, &second}) {
    out += plan == &first ? "first sync order:" : "second sync order:";
    for (const SyncStep& step : *plan) {
      out += " van " + std::to_string(step.van) + FaultName(step.fault) + " [batch " +
             std::to_string(step.batch_size) + "],";
    }
    out += "\n";
  }
  return out;
}

// Staff move a request submitted -> received -> in_review; a third move is not generated.
std::optional<RequestStatus> NextStaffStatus(int steps_done) {
  if (steps_done == 0) return RequestStatus::kReceived;
  if (steps_done == 1) return RequestStatus::kInReview;
  return std::nullopt;
}

// The merge rule applied by hand: the write with the highest version wins each field, and every
// edit is made later than the one before it.
Outcome Expected(const Script& s) {
  Outcome out;
  std::map<Key, int> status_steps;
  for (int v = 0; v < s.vans; ++v) {
    for (int r = 0; r < s.requests_per_van; ++r) {
      for (const auto& [name, value] : SyncWorld::KtpFields(Serial(v, r))) {
        if (!value.empty()) out.fields[{v, r}][name] = value;
      }
      out.status[{v, r}] = RequestStatus::kSubmitted;
    }
  }
  for (size_t i = 0; i < s.edits.size(); ++i) {
    const Edit& e = s.edits[i];
    const Key key{e.van, e.request};
    if (e.by_staff && e.field == kStaffStatusStep) {
      if (auto next = NextStaffStatus(status_steps[key])) {
        out.status[key] = *next;
        ++status_steps[key];
      }
      continue;
    }
    const std::string& field = e.by_staff ? kStaffFields[e.field] : kVanFields[e.field];
    out.fields[key][field] = ValueFor(field, i);
  }
  return out;
}

// Runs the script on fresh vans (codes tag + index) of `world`'s server, syncing them in the
// order of `plan`, then twice more each without faults; checks exactly-once and convergence.
Outcome RunScript(SyncWorld& world, const Script& s, const std::vector<SyncStep>& plan,
                  const std::string& tag) {
  std::vector<Van*> vans;
  std::vector<std::vector<std::string>> ids(s.vans);
  std::vector<uint64_t> mutations(s.vans, 0);
  for (int v = 0; v < s.vans; ++v) {
    vans.push_back(&world.AddVan(tag + std::to_string(v)));
    for (int r = 0; r < s.requests_per_van; ++r) {
      auto created =
          field::RegisterRequest(*vans[v]->store, kKtp, SyncWorld::KtpFields(Serial(v, r)));
      RC_ASSERT(created.ok());
      ids[v].push_back(created->id);
      ++mutations[v];
    }
    RC_ASSERT(world.Sync(*vans[v]).ok());
  }

  // Offline edits on the vans and staff edits on the server, each a little later than the last.
  std::map<Key, int> status_steps;
  for (size_t i = 0; i < s.edits.size(); ++i) {
    world.clock().Advance(10);
    const Edit& e = s.edits[i];
    const std::string& id = ids[e.van][e.request];
    if (e.by_staff && e.field == kStaffStatusStep) {
      int& done = status_steps[{e.van, e.request}];
      if (auto next = NextStaffStatus(done)) {
        RC_ASSERT(world.services().staff.SetStatus(id, *next, "rina", "").ok());
        ++done;
      }
    } else if (e.by_staff) {
      const std::string& field = kStaffFields[e.field];
      RC_ASSERT(world.services().staff.SetFields(id, {{field, ValueFor(field, i)}}, "rina").ok());
    } else {
      const std::string& field = kVanFields[e.field];
      RC_ASSERT(field::UpdateRequest(*vans[e.van]->store, id, {{field, ValueFor(field, i)}}).ok());
      ++mutations[e.van];
    }
  }

  // Syncs in the plan's order, each allowed one attempt, some hit by a fault.
  for (const SyncStep& step : plan) {
    world.clock().Advance(10);
    Van& van = *vans[step.van];
    van.link->Queue({step.fault});
    field::SyncOptions options;
    options.batch_size = step.batch_size;
    options.max_attempts = 1;
    (void)world.Sync(van, options);  // a faulted sync fails; the next one resumes
  }
  // Faults stop; every van syncs twice.
  for (int round = 0; round < 2; ++round) {
    for (Van* van : vans) {
      world.clock().Advance(10);
      auto synced = world.Sync(*van);
      if (!synced.ok()) RC_LOG() << "sync of " << van->van_code << ": " << synced.error().message();
      RC_ASSERT(synced.ok());
    }
  }

  Outcome out;
  std::set<std::string> device_ids;
  for (int v = 0; v < s.vans; ++v) {
    Van& van = *vans[v];
    device_ids.insert(van.device_id());
    RC_ASSERT(van.store->Device()->pending == 0);
    auto device = world.storage().FindDevice(van.device_id());
    RC_ASSERT(device.ok() && device->has_value());
    // Exactly once: every mutation applied, none twice (seqs are gap-free from 1).
    RC_ASSERT((*device)->last_applied_seq == mutations[v]);
    for (int r = 0; r < s.requests_per_van; ++r) {
      auto server = world.storage().FindRequest(ids[v][r]);
      RC_ASSERT(server.ok() && server->has_value());
      const sync::Request& state = (*server)->request;
      auto row = van.store->Find(ids[v][r]);
      RC_ASSERT(row.ok());
      if (!(row->view == state)) {
        RC_LOG() << "van " << v << " request " << r << ": the van's view differs from the server";
      }
      RC_ASSERT(row->view == state);  // convergence
      RC_ASSERT(!row->pending);
      for (const auto& [name, value] : state.fields) out.fields[{v, r}][name] = value.value;
      out.status[{v, r}] = state.status;
    }
  }
  auto conflicts = world.storage().ListConflicts();
  RC_ASSERT(conflicts.ok());
  // Merge conflicts only: the scripts of one world reuse NIKs across vans, whose open requests
  // the server flags as possible duplicates (field "duplicate"), whatever the sync order.
  for (const auto& c : *conflicts) {
    if (c.conflict.field != "duplicate") out.conflicts += device_ids.count(c.device_id);
  }
  return out;
}

// The default catalog cut down to the one service the test uses: a van parses its catalog when
// it is made, and this test makes over a hundred vans.
std::string KtpOnlyCatalog() {
  using nlohmann::json;
  json doc = json::parse(ReadFileOrDie(DefaultCatalogPath()));
  json agencies = json::array();
  json services = json::array();
  for (const auto& s : doc["services"]) {
    if (s["id"] == kKtp) services.push_back(s);
  }
  for (const auto& a : doc["agencies"]) {
    if (a["id"] == services.at(0)["agency"]) agencies.push_back(a);
  }
  doc["agencies"] = agencies;
  doc["services"] = services;
  return doc.dump();
}

std::string FastTempParent() {
  std::error_code ignored;
  return std::filesystem::is_directory("/dev/shm", ignored) ? "/dev/shm" : "";
}

TEST(MergeOrderProperty, FieldValuesAreTheSameForEverySyncOrderAndEveryVanConverges) {
  // About 20 cases keep this to seconds; RC_PARAMS (e.g. "seed=N" to replay) takes precedence.
  setenv("RC_PARAMS", "max_success=20", /*overwrite=*/0);
  SyncWorld world(20251128, KtpOnlyCatalog(), FastTempParent());
  int run = 0;
  const bool ok = rc::check("per-field merge is order independent; vans converge", [&] {
    const Script script = GenScript();
    const std::vector<SyncStep> first = GenPlan(script.vans);
    const std::vector<SyncStep> second = GenPlan(script.vans);
    const std::string tag = "P" + std::to_string(++run);
    RC_LOG() << Describe(script, first, second);
    const Outcome expected = Expected(script);
    const Outcome a = RunScript(world, script, first, tag + "A");
    const Outcome b = RunScript(world, script, second, tag + "B");
    RC_ASSERT(a.fields == expected.fields);
    RC_ASSERT(a.status == expected.status);
    RC_ASSERT(b.fields == a.fields);
    RC_ASSERT(b.status == a.status);
    RC_ASSERT(b.conflicts == a.conflicts);
    RC_CLASSIFY(a.conflicts > 0, "concurrent writes recorded as conflicts");
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace mpp::test
