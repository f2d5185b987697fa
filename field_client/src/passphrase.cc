#include "mpp/field/passphrase.h"

#include <zxcvbn.h>

#include <algorithm>
#include <memory>
#include <set>

namespace mpp::field {
namespace {

// What made a passphrase guessable, in an officer's words, by zxcvbn's kind of match.
const char* Why(ZxcTypeMatch_t type) {
  switch (static_cast<int>(type) & ~static_cast<int>(MULTIPLE_MATCH)) {
    case DICTIONARY_MATCH:
    case DICT_LEET_MATCH:
      return "it is built on a common password or word";
    case USER_MATCH:
    case USER_LEET_MATCH:
      return "it contains the van code or an officer's name";
    case REPEATS_MATCH:
      return "it repeats characters";
    case SEQUENCE_MATCH:
      return "it contains a sequence like 1234 or abcd";
    case SPATIAL_MATCH:
      return "it contains a keyboard pattern like qwerty";
    case DATE_MATCH:
    case YEAR_MATCH:
      return "it contains a date or a year";
    default:
      return nullptr;
  }
}

}  // namespace

Result<void> CheckPassphraseStrength(std::string_view passphrase,
                                     const std::vector<std::string>& user_words) {
  const std::string text(passphrase);
  std::vector<const char*> dictionary;
  for (const auto& word : user_words) {
    if (!word.empty()) dictionary.push_back(word.c_str());
  }
  dictionary.push_back(nullptr);
  ZxcMatch_t* info = nullptr;
  const double bits = ZxcvbnMatch(text.c_str(), dictionary.data(), &info);
  std::unique_ptr<ZxcMatch_t, void (*)(ZxcMatch_t*)> owned(info, ZxcvbnFreeInfo);
  if (bits >= kMinPassphraseBits) return Ok();
  std::string reasons;
  std::set<std::string> seen;
  for (const ZxcMatch_t* m = info; m != nullptr; m = m->Next) {
    const char* why = Why(m->Type);
    if (why == nullptr || !seen.insert(why).second) continue;
    reasons += (reasons.empty() ? "" : ", ") + std::string(why);
  }
  if (reasons.empty()) reasons = "it is too short";
  return Error::InvalidInput("passphrase too easy to guess: " + reasons +
                             "; choose a longer one, e.g. four unrelated words");
}

std::vector<std::string> PassphraseUserWords(std::string_view van_code, std::string_view officer) {
  std::vector<std::string> words = {std::string(van_code), std::string(officer)};
  size_t start = 0;
  while (start < officer.size()) {
    const size_t end = std::min(officer.find(' ', start), officer.size());
    if (end > start) words.emplace_back(officer.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

Result<void> ChangePassphrase(store::VanStore& store, std::string_view old_passphrase,
                              std::string_view new_passphrase) {
  MPP_ASSIGN_OR_RETURN(store::DeviceInfo device, store.Device());
  MPP_RETURN_IF_ERROR(CheckPassphraseStrength(
      new_passphrase, PassphraseUserWords(device.van_code, device.officer)));
  return store.ChangePassphrase(old_passphrase, new_passphrase);
}

}  // namespace mpp::field
