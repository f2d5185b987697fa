// The passphrase policy of a van: how strong a new passphrase must be, and changing it. The
// store only wraps its data key under whatever passphrase it is given (VanStore::Create,
// ChangePassphrase); what an officer may choose is decided here, where the commands are.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mpp/store/van_store.h"
#include "mpp/sync/result.h"

namespace mpp::field {

// The least estimated strength (zxcvbn's entropy: log2 of the guesses an attacker trying
// common passwords, words, names, dates and keyboard patterns first would need) a new
// passphrase must have. A stolen van's store is attacked offline: each guess costs one Argon2id
// derivation, ~0.22 s on a tablet core, so trying 2^36 guesses (6.9e10) takes about 480
// core-years: years even for an attacker with a hundred cores. zxcvbn's authors call 10^10
// guesses (33 bits) strong against an offline slow hash; 36 bits leaves a margin over that.
// "password" is 0 bits, "12345678" 1.6, "Tr0ub4dor" 32, four unrelated words 60 or more.
inline constexpr double kMinPassphraseBits = 36.0;

// Refuses a passphrase that is too easy to guess (kInvalidInput), with the reason in words an
// officer understands and what to do instead. `user_words` are guessed first by anyone who
// knows the van (its code, the officers' names): a passphrase built from them counts as weak.
Result<void> CheckPassphraseStrength(std::string_view passphrase,
                                     const std::vector<std::string>& user_words);

// The words anyone who knows the van tries first: the van code, the officer's name and each
// part of it.
std::vector<std::string> PassphraseUserWords(std::string_view van_code, std::string_view officer);

// Changes the store's passphrase: refuses a weak new one (CheckPassphraseStrength, with the
// van code and officer as user words) before the store is touched, then
// VanStore::ChangePassphrase (a wrong old passphrase changes nothing).
Result<void> ChangePassphrase(store::VanStore& store, std::string_view old_passphrase,
                              std::string_view new_passphrase);

}  // namespace mpp::field
