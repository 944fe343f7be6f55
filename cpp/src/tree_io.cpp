// Model loaders: XGBoost JSON / UBJSON (through twinscore/json.h) and LightGBM
// text. They translate each library's node arrays into twinscore::Tree and
// leave every consistency check to ValidateModel, so a file is never trusted
// beyond the bounds checks done while reading it.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "twinscore/json.h"
#include "twinscore/trees.h"

namespace twinscore {

void Tree::Resize(int32_t n) {
  left.assign(n, -1);
  right.assign(n, -1);
  feature.assign(n, -1);
  threshold.assign(n, 0.0);
  default_left.assign(n, 0);
  kind.assign(n, static_cast<uint8_t>(SplitKind::kNumeric));
  value.assign(n, 0.0);
  cover.assign(n, 0.0);
  cat_begin.assign(n, 0);
  cat_words.assign(n, 0);
}

namespace {

// Largest node count or category accepted: far beyond real models, small
// enough that sizes derived from them cannot overflow.
constexpr int64_t kMaxNodes = int64_t{1} << 26;
constexpr int64_t kMaxCategory = int64_t{1} << 24;
constexpr int64_t kMaxFeatures = int64_t{1} << 24;

absl::Status Bad(absl::string_view what) { return absl::DataLossError(absl::StrCat("invalid model: ", what)); }

// ---------------------------------------------------------------- XGBoost

using json::Value;

absl::StatusOr<const Value*> Member(const Value& v, absl::string_view key, absl::string_view where) {
  const Value* m = v.Find(key);
  if (m == nullptr) return Bad(absl::StrCat("XGBoost model: '", where, "' has no '", key, "'"));
  return m;
}

// XGBoost writes most parameters as strings ("5E-1", "200").
absl::StatusOr<double> NumberOf(const Value& v, absl::string_view what) {
  if (v.kind == Value::Kind::kNumber) return v.number;
  if (v.kind == Value::Kind::kString) {
    double d = 0;
    if (absl::SimpleAtod(v.string, &d)) return d;
  }
  return Bad(absl::StrCat("XGBoost model: '", what, "' is not a number"));
}

absl::StatusOr<int64_t> IntOf(const Value& v, absl::string_view what, int64_t lo, int64_t hi) {
  auto d = NumberOf(v, what);
  if (!d.ok()) return d.status();
  if (!(*d >= static_cast<double>(lo) && *d <= static_cast<double>(hi)) || *d != std::floor(*d)) {
    return Bad(absl::StrCat("XGBoost model: '", what, "' = ", *d, " is not an integer in [", lo, ", ", hi, "]"));
  }
  return static_cast<int64_t>(*d);
}

// A numeric array member of exactly n items (n < 0: any length).
absl::StatusOr<const std::vector<double>*> Numbers(const Value& tree, absl::string_view key, int64_t n,
                                                   int64_t tree_id) {
  const Value* a = tree.Find(key);
  static const std::vector<double> kEmpty;
  if (a == nullptr) return Bad(absl::StrCat("XGBoost tree ", tree_id, " has no '", key, "'"));
  if (a->kind == Value::Kind::kNumbers) {
    if (n >= 0 && static_cast<int64_t>(a->numbers.size()) != n) {
      return Bad(absl::StrCat("XGBoost tree ", tree_id, ": '", key, "' has ", a->numbers.size(), " items, expected ",
                              n));
    }
    return &a->numbers;
  }
  if (a->kind == Value::Kind::kArray && a->items.empty() && n <= 0) return &kEmpty;
  return Bad(absl::StrCat("XGBoost tree ", tree_id, ": '", key, "' is not an array of numbers"));
}

std::vector<std::string> Strings(const Value* v) {
  std::vector<std::string> out;
  if (v == nullptr || v->kind != Value::Kind::kArray) return out;
  for (const auto& s : v->items) out.push_back(s.kind == Value::Kind::kString ? s.string : std::string());
  return out;
}

struct XgbObjective {
  const char* name;
  OutputTransform transform;
  int base_link;  // 0 identity, 1 logit, 2 log: how base_score becomes a margin
};

constexpr XgbObjective kXgbObjectives[] = {
    {"binary:logistic", OutputTransform::kSigmoid, 1},
    {"reg:logistic", OutputTransform::kSigmoid, 1},
    {"binary:logitraw", OutputTransform::kIdentity, 0},  // base_score is a margin already
    {"binary:hinge", OutputTransform::kHinge, 0},
    {"reg:squarederror", OutputTransform::kIdentity, 0},
    {"reg:squaredlogerror", OutputTransform::kIdentity, 0},
    {"reg:pseudohubererror", OutputTransform::kIdentity, 0},
    {"reg:absoluteerror", OutputTransform::kIdentity, 0},
    {"reg:quantileerror", OutputTransform::kIdentity, 0},
    {"count:poisson", OutputTransform::kExp, 2},
    {"reg:gamma", OutputTransform::kExp, 2},
    {"reg:tweedie", OutputTransform::kExp, 2},
    {"survival:cox", OutputTransform::kExp, 2},
    {"multi:softprob", OutputTransform::kSoftmax, 0},
    {"multi:softmax", OutputTransform::kSoftmaxArgmax, 0},
    {"rank:pairwise", OutputTransform::kIdentity, 0},
    {"rank:ndcg", OutputTransform::kIdentity, 0},
    {"rank:map", OutputTransform::kIdentity, 0},
};

// base_score: "5E-1", or "[5E-1,2E-1]" (one per output) in recent versions.
absl::StatusOr<std::vector<double>> BaseScores(const Value& v) {
  std::vector<double> out;
  if (v.kind == Value::Kind::kNumber) return std::vector<double>{v.number};
  if (v.kind == Value::Kind::kNumbers) return v.numbers;
  if (v.kind != Value::Kind::kString) return Bad("XGBoost model: 'base_score' is not a number");
  absl::string_view s = v.string;
  s = absl::StripAsciiWhitespace(s);
  if (absl::ConsumePrefix(&s, "[") && !absl::ConsumeSuffix(&s, "]")) return Bad("XGBoost model: bad 'base_score'");
  for (absl::string_view part : absl::StrSplit(s, ',')) {
    double d = 0;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(part), &d)) {
      return Bad(absl::StrCat("XGBoost model: 'base_score' '", v.string, "' is not a number"));
    }
    out.push_back(d);
  }
  return out;
}

absl::Status XgbTree(const Value& t, int64_t tree_id, int32_t num_features, Tree& tree) {
  if (!t.is_object()) return Bad(absl::StrCat("XGBoost tree ", tree_id, " is not an object"));
  auto lc = Numbers(t, "left_children", -1, tree_id);
  if (!lc.ok()) return lc.status();
  const int64_t n = static_cast<int64_t>((*lc)->size());
  if (n < 1 || n > kMaxNodes) return Bad(absl::StrCat("XGBoost tree ", tree_id, " has ", n, " nodes"));
  if (const Value* tp = t.Find("tree_param")) {
    if (const Value* sl = tp->Find("size_leaf_vector")) {
      auto k = IntOf(*sl, "size_leaf_vector", 0, kMaxNodes);
      if (!k.ok()) return k.status();
      if (*k > 1) return absl::InvalidArgumentError("XGBoost multi-target trees (vector leaves) are not supported");
    }
  }
  auto rc = Numbers(t, "right_children", n, tree_id);
  auto si = Numbers(t, "split_indices", n, tree_id);
  auto sc = Numbers(t, "split_conditions", n, tree_id);
  auto dl = Numbers(t, "default_left", n, tree_id);
  auto sh = Numbers(t, "sum_hessian", n, tree_id);
  for (const auto* s : {&rc, &si, &sc, &dl, &sh}) {
    if (!s->ok()) return s->status();
  }
  const std::vector<double>* st = nullptr;
  if (t.Find("split_type") != nullptr) {
    auto r = Numbers(t, "split_type", n, tree_id);
    if (!r.ok()) return r.status();
    st = *r;
  }
  tree.Resize(static_cast<int32_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double l = (**lc)[i], r = (**rc)[i], f = (**si)[i];
    if (l != std::floor(l) || r != std::floor(r) || std::abs(l) > kMaxNodes || std::abs(r) > kMaxNodes) {
      return Bad(absl::StrCat("XGBoost tree ", tree_id, " node ", i, ": child index is not an integer in range"));
    }
    tree.left[i] = static_cast<int32_t>(l);
    tree.right[i] = static_cast<int32_t>(r);
    tree.cover[i] = (**sh)[i];
    if (tree.left[i] == -1) {
      if (tree.right[i] != -1) return Bad(absl::StrCat("XGBoost tree ", tree_id, " node ", i, " has one child"));
      tree.value[i] = static_cast<float>((**sc)[i]);
      continue;
    }
    if (!(f >= 0 && f < num_features) || f != std::floor(f)) {
      return Bad(absl::StrCat("XGBoost tree ", tree_id, " node ", i, ": split feature ", f, " is not in [0, ",
                              num_features, ")"));
    }
    tree.feature[i] = static_cast<int32_t>(f);
    tree.threshold[i] = static_cast<float>((**sc)[i]);
    tree.default_left[i] = (**dl)[i] != 0;
    if (st != nullptr && (*st)[i] != 0) {
      if ((*st)[i] != 1) return Bad(absl::StrCat("XGBoost tree ", tree_id, " node ", i, ": unknown split type"));
      tree.kind[i] = static_cast<uint8_t>(SplitKind::kCategorical);
    }
  }
  // Category sets: categories_nodes[k] has categories[segments[k] .. + sizes[k]).
  if (t.Find("categories_nodes") == nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      if (tree.kind[i] == static_cast<uint8_t>(SplitKind::kCategorical)) {
        return Bad(absl::StrCat("XGBoost tree ", tree_id, " has categorical splits but no categories"));
      }
    }
    return absl::OkStatus();
  }
  auto cn = Numbers(t, "categories_nodes", -1, tree_id);
  if (!cn.ok()) return cn.status();
  const int64_t k = static_cast<int64_t>((*cn)->size());
  auto cs = Numbers(t, "categories_segments", k, tree_id);
  auto cz = Numbers(t, "categories_sizes", k, tree_id);
  auto cats = Numbers(t, "categories", -1, tree_id);
  for (const auto* s : {&cs, &cz, &cats}) {
    if (!s->ok()) return s->status();
  }
  const int64_t total = static_cast<int64_t>((*cats)->size());
  std::vector<uint8_t> has_set(n, 0);
  for (int64_t j = 0; j < k; ++j) {
    const double node = (**cn)[j], seg = (**cs)[j], size = (**cz)[j];
    if (!(node >= 0 && node < n) || node != std::floor(node)) {
      return Bad(absl::StrCat("XGBoost tree ", tree_id, ": categories node ", node, " out of range"));
    }
    if (!(seg >= 0 && size >= 0 && seg + size <= total) || seg != std::floor(seg) || size != std::floor(size)) {
      return Bad(absl::StrCat("XGBoost tree ", tree_id, ": category segment [", seg, ", +", size,
                              ") outside the ", total, " categories"));
    }
    const int64_t i = static_cast<int64_t>(node);
    if (tree.kind[i] != static_cast<uint8_t>(SplitKind::kCategorical) || has_set[i]) {
      return Bad(absl::StrCat("XGBoost tree ", tree_id, " node ", i, " is not a categorical split or has two sets"));
    }
    has_set[i] = 1;
    double max_cat = -1;
    for (int64_t c = 0; c < size; ++c) {
      const double v = (**cats)[static_cast<int64_t>(seg) + c];
      if (!(v >= 0 && v < kMaxCategory) || v != std::floor(v)) {
        return Bad(absl::StrCat("XGBoost tree ", tree_id, " node ", i, ": category ", v, " is invalid"));
      }
      max_cat = std::max(max_cat, v);
    }
    const int32_t words = static_cast<int32_t>(max_cat < 0 ? 0 : static_cast<int64_t>(max_cat) / 64 + 1);
    tree.cat_begin[i] = static_cast<int32_t>(tree.cat_bits.size());
    tree.cat_words[i] = words;
    tree.cat_bits.resize(tree.cat_bits.size() + words, 0);
    for (int64_t c = 0; c < size; ++c) {
      const int64_t v = static_cast<int64_t>((**cats)[static_cast<int64_t>(seg) + c]);
      tree.cat_bits[tree.cat_begin[i] + v / 64] |= uint64_t{1} << (v % 64);
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    if (tree.kind[i] == static_cast<uint8_t>(SplitKind::kCategorical) && !has_set[i]) {
      return Bad(absl::StrCat("XGBoost tree ", tree_id, " node ", i, " is categorical but has no category set"));
    }
  }
  return absl::OkStatus();
}

// The categories XGBoost >= 3.1 stores with the model ("cats"): per feature,
// either UTF-8 strings (end offsets into bytes) or numbers.
absl::Status XgbCategories(const Value& cats, TreeModel& m) {
  const Value* enc = cats.Find("enc");
  if (enc == nullptr) return absl::OkStatus();
  if (enc->kind == Value::Kind::kNumbers && enc->numbers.empty()) return absl::OkStatus();
  if (enc->kind != Value::Kind::kArray || static_cast<int64_t>(enc->items.size()) != m.num_features) {
    return Bad(absl::StrCat("XGBoost model: 'cats.enc' must have one entry per feature"));
  }
  m.category_names.assign(m.num_features, {});
  m.category_values.assign(m.num_features, {});
  for (int32_t f = 0; f < m.num_features; ++f) {
    const Value& e = enc->items[f];
    const Value* values = e.Find("values");
    const Value* offsets = e.Find("offsets");
    if (values == nullptr || values->kind != Value::Kind::kNumbers) {
      if (values != nullptr && values->size() == 0) continue;
      return Bad(absl::StrCat("XGBoost model: categories of feature ", f, " are malformed"));
    }
    if (offsets == nullptr || offsets->size() == 0) {
      m.category_values[f] = values->numbers;
      continue;
    }
    if (offsets->kind != Value::Kind::kNumbers) return Bad("XGBoost model: category offsets are malformed");
    // Offsets count characters (code points) while values hold UTF-8 bytes,
    // so names are cut by walking the bytes one character at a time (the
    // file may hold fewer bytes than characters need: the tail is then cut).
    const auto& off = offsets->numbers;
    const auto& bytes = values->numbers;
    for (double b : bytes) {
      if (!(b >= -128 && b < 256) || b != std::floor(b)) return Bad("XGBoost model: a category name is not bytes");
    }
    auto byte_at = [&](size_t b) { return static_cast<uint8_t>(static_cast<int>(bytes[b]) & 0xff); };
    size_t pos = 0;
    double prev = 0;
    for (size_t k = 0; k < off.size(); ++k) {
      const double o = off[k];
      if (!(o >= prev && o <= kMaxCategory) || o != std::floor(o) || (k == 0 && o != 0)) {
        return Bad(absl::StrCat("XGBoost model: category offsets of feature ", f, " are out of range"));
      }
      if (k > 0) {
        std::string name;
        for (int64_t c = 0; c < static_cast<int64_t>(o - prev) && pos < bytes.size(); ++c) {
          const uint8_t lead = byte_at(pos);
          const size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
          for (size_t b = 0; b < len && pos < bytes.size(); ++b) name.push_back(static_cast<char>(byte_at(pos++)));
        }
        m.category_names[f].push_back(std::move(name));
      }
      prev = o;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TreeModel> XgbModel(const Value& doc) {
  if (!doc.is_object()) return Bad("not an XGBoost model (the document is not an object)");
  const Value* learner = doc.Find("learner");
  if (learner == nullptr || !learner->is_object()) return Bad("not an XGBoost model (no 'learner' object)");
  TreeModel m;
  m.flavor = TreeFlavor::kXGBoost;
  auto lmp = Member(*learner, "learner_model_param", "learner");
  if (!lmp.ok()) return lmp.status();
  auto nf = Member(**lmp, "num_feature", "learner_model_param");
  if (!nf.ok()) return nf.status();
  auto num_feature = IntOf(**nf, "num_feature", 0, kMaxFeatures);
  if (!num_feature.ok()) return num_feature.status();
  m.num_features = static_cast<int32_t>(*num_feature);
  int64_t num_class = 0;
  if (const Value* nc = (*lmp)->Find("num_class")) {
    auto r = IntOf(*nc, "num_class", 0, 1 << 20);
    if (!r.ok()) return r.status();
    num_class = *r;
  }
  if (const Value* nt = (*lmp)->Find("num_target")) {
    auto r = IntOf(*nt, "num_target", 0, 1 << 20);
    if (!r.ok()) return r.status();
    if (*r > 1) return absl::InvalidArgumentError("XGBoost multi-target models are not supported");
  }
  m.num_groups = static_cast<int32_t>(std::max<int64_t>(1, num_class));

  auto obj = Member(*learner, "objective", "learner");
  if (!obj.ok()) return obj.status();
  auto obj_name = Member(**obj, "name", "objective");
  if (!obj_name.ok()) return obj_name.status();
  if ((*obj_name)->kind != Value::Kind::kString) return Bad("XGBoost model: objective name is not a string");
  m.objective = (*obj_name)->string;
  const XgbObjective* found = nullptr;
  for (const auto& o : kXgbObjectives) {
    if (m.objective == o.name) found = &o;
  }
  if (found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("XGBoost objective '", m.objective, "' is not supported"));
  }
  m.transform = found->transform;

  auto bs = Member(**lmp, "base_score", "learner_model_param");
  if (!bs.ok()) return bs.status();
  auto base = BaseScores(**bs);
  if (!base.ok()) return base.status();
  if (base->size() != 1 && static_cast<int64_t>(base->size()) != m.num_groups) {
    return Bad(absl::StrCat("XGBoost model: ", base->size(), " base scores for ", m.num_groups, " outputs"));
  }
  for (int32_t g = 0; g < m.num_groups; ++g) {
    // The margin is computed in float32 by XGBoost: round the same way.
    const float b = static_cast<float>((*base)[base->size() == 1 ? 0 : g]);
    float margin = b;
    if (found->base_link == 1) {
      if (!(b > 0 && b < 1)) return Bad(absl::StrCat("XGBoost model: base_score ", b, " is not in (0, 1)"));
      margin = -std::log(1.0f / b - 1.0f);
    } else if (found->base_link == 2) {
      if (!(b > 0)) return Bad(absl::StrCat("XGBoost model: base_score ", b, " is not positive"));
      margin = std::log(b);
    }
    if (!std::isfinite(margin)) return Bad("XGBoost model: base_score is not finite");
    m.base_margin.push_back(margin);
  }

  m.feature_names = Strings(learner->Find("feature_names"));
  m.feature_types = Strings(learner->Find("feature_types"));
  if (const Value* attrs = learner->Find("attributes")) {
    if (const Value* bi = attrs->Find("best_iteration")) {
      auto r = IntOf(*bi, "best_iteration", 0, kMaxNodes);
      if (r.ok()) m.best_iteration = *r;
    }
  }

  auto gb = Member(*learner, "gradient_booster", "learner");
  if (!gb.ok()) return gb.status();
  const Value* booster = *gb;
  const Value* gb_name = booster->Find("name");
  const std::string name = gb_name != nullptr && gb_name->kind == Value::Kind::kString ? gb_name->string : "";
  const std::vector<double>* dart_weights = nullptr;
  if (name == "dart") {
    const Value* w = booster->Find("weight_drop");
    if (w == nullptr || w->kind != Value::Kind::kNumbers) return Bad("XGBoost dart model without 'weight_drop'");
    dart_weights = &w->numbers;
    booster = booster->Find("gbtree");
    if (booster == nullptr) return Bad("XGBoost dart model without 'gbtree'");
  } else if (name != "gbtree") {
    return absl::InvalidArgumentError(
        absl::StrCat("XGBoost booster '", name, "' is not supported (only tree boosters: gbtree, dart)"));
  }
  auto model = Member(*booster, "model", "gradient_booster");
  if (!model.ok()) return model.status();
  auto trees = Member(**model, "trees", "model");
  if (!trees.ok()) return trees.status();
  if ((*trees)->kind != Value::Kind::kArray && !((*trees)->kind == Value::Kind::kNumbers && (*trees)->size() == 0)) {
    return Bad("XGBoost model: 'trees' is not an array of trees");
  }
  const int64_t num_trees = static_cast<int64_t>((*trees)->size());
  auto ti = Member(**model, "tree_info", "model");
  if (!ti.ok()) return ti.status();
  if ((*ti)->kind != Value::Kind::kNumbers && (*ti)->size() != 0) return Bad("XGBoost model: bad 'tree_info'");
  if (static_cast<int64_t>((*ti)->size()) != num_trees) {
    return Bad(absl::StrCat("XGBoost model: ", (*ti)->size(), " tree_info entries for ", num_trees, " trees"));
  }
  if (dart_weights != nullptr && static_cast<int64_t>(dart_weights->size()) != num_trees) {
    return Bad("XGBoost dart model: weight_drop does not have one weight per tree");
  }
  int64_t parallel = 1;
  if (const Value* p = (*model)->Find("gbtree_model_param")) {
    if (const Value* np = p->Find("num_parallel_tree")) {
      auto r = IntOf(*np, "num_parallel_tree", 1, 1 << 20);
      if (!r.ok()) return r.status();
      parallel = *r;
    }
  }
  m.trees_per_iteration = static_cast<int32_t>(parallel * m.num_groups);
  if (const Value* cats = (*model)->Find("cats")) TWINSCORE_RETURN_IF_ERROR(XgbCategories(*cats, m));
  m.trees.resize(num_trees);
  for (int64_t i = 0; i < num_trees; ++i) {
    TWINSCORE_RETURN_IF_ERROR(XgbTree((*trees)->items[i], i, m.num_features, m.trees[i]));
    const double g = (*ti)->numbers[i];
    if (!(g >= 0 && g < m.num_groups) || g != std::floor(g)) {
      return Bad(absl::StrCat("XGBoost model: tree ", i, " has output group ", g, " of ", m.num_groups));
    }
    m.trees[i].group = static_cast<int32_t>(g);
    if (dart_weights != nullptr) {
      const float w = static_cast<float>((*dart_weights)[i]);
      for (double& v : m.trees[i].value) v = static_cast<float>(static_cast<float>(v) * w);
    }
  }
  TWINSCORE_RETURN_IF_ERROR(ValidateModel(m));
  return m;
}

// ---------------------------------------------------------------- LightGBM

// The "key=value" lines of one section, in order.
using Section = absl::flat_hash_map<std::string, std::string>;

template <class T>
absl::Status ParseList(const Section& s, const std::string& key, int64_t n, int64_t tree_id, std::vector<T>& out) {
  auto it = s.find(key);
  if (it == s.end()) return Bad(absl::StrCat("LightGBM tree ", tree_id, " has no '", key, "'"));
  out.clear();
  // Never trust n for the allocation: a value takes at least 2 characters.
  out.reserve(static_cast<size_t>(std::min<int64_t>(n, static_cast<int64_t>(it->second.size()) / 2 + 1)));
  const std::string& text = it->second;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    while (p < end && *p == ' ') ++p;
    if (p >= end) break;
    const char* q = p;
    while (q < end && *q != ' ') ++q;
    if (static_cast<int64_t>(out.size()) >= n) {
      return Bad(absl::StrCat("LightGBM tree ", tree_id, ": '", key, "' has more than ", n, " values"));
    }
    T v{};
    if constexpr (std::is_floating_point_v<T>) {
      auto r = std::from_chars(p, q, v);
      if (r.ec == std::errc::result_out_of_range) {
        v = static_cast<T>(std::strtod(std::string(p, q).c_str(), nullptr));
      } else if (r.ec != std::errc() || r.ptr != q) {
        // LightGBM writes infinities as "inf" / "-inf" (and NaN as "nan").
        std::string word(p, q);
        if (word == "inf" || word == "+inf") v = std::numeric_limits<T>::infinity();
        else if (word == "-inf") v = -std::numeric_limits<T>::infinity();
        else if (word == "nan" || word == "-nan") v = std::numeric_limits<T>::quiet_NaN();
        else return Bad(absl::StrCat("LightGBM tree ", tree_id, ": '", key, "' holds '", word, "'"));
      }
    } else {
      auto r = std::from_chars(p, q, v);
      if (r.ec != std::errc() || r.ptr != q) {
        return Bad(absl::StrCat("LightGBM tree ", tree_id, ": '", key, "' holds '", std::string(p, q),
                                "', not an integer"));
      }
    }
    out.push_back(v);
    p = q;
  }
  if (static_cast<int64_t>(out.size()) != n) {
    return Bad(absl::StrCat("LightGBM tree ", tree_id, ": '", key, "' has ", out.size(), " values, expected ", n));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SectionInt(const Section& s, const std::string& key, int64_t lo, int64_t hi,
                                   absl::string_view where) {
  auto it = s.find(key);
  if (it == s.end()) return Bad(absl::StrCat("LightGBM ", where, " has no '", key, "'"));
  int64_t v = 0;
  if (!absl::SimpleAtoi(it->second, &v) || v < lo || v > hi) {
    return Bad(absl::StrCat("LightGBM ", where, ": '", key, "' = '", it->second, "' is not an integer in [", lo,
                            ", ", hi, "]"));
  }
  return v;
}

absl::Status LgbTree(const Section& s, int64_t tree_id, Tree& tree) {
  const std::string where = absl::StrCat("tree ", tree_id);
  auto nl = SectionInt(s, "num_leaves", 1, kMaxNodes / 2, where);
  if (!nl.ok()) return nl.status();
  auto lin = s.find("is_linear");
  if (lin != s.end() && lin->second != "0") {
    return absl::InvalidArgumentError("LightGBM linear trees (linear_tree=true) are not supported");
  }
  const int64_t L = *nl;
  const int64_t I = L - 1;  // internal nodes
  std::vector<double> leaf_value, leaf_count, threshold, internal_count;
  std::vector<int32_t> split_feature, left, right;
  std::vector<int32_t> decision;
  // Read first: its length is checked, so num_leaves is then safe to size with.
  TWINSCORE_RETURN_IF_ERROR(ParseList(s, "leaf_value", L, tree_id, leaf_value));
  tree.Resize(static_cast<int32_t>(I + L));
  if (s.contains("leaf_count")) {
    TWINSCORE_RETURN_IF_ERROR(ParseList(s, "leaf_count", L, tree_id, leaf_count));
  } else {
    leaf_count.assign(L, 0.0);
  }
  // Internal nodes first (0 .. I-1), then leaves (I .. I+L-1).
  for (int64_t j = 0; j < L; ++j) {
    tree.value[I + j] = leaf_value[j];
    tree.cover[I + j] = leaf_count[j];
  }
  if (I == 0) return absl::OkStatus();
  TWINSCORE_RETURN_IF_ERROR(ParseList(s, "split_feature", I, tree_id, split_feature));
  TWINSCORE_RETURN_IF_ERROR(ParseList(s, "threshold", I, tree_id, threshold));
  TWINSCORE_RETURN_IF_ERROR(ParseList(s, "decision_type", I, tree_id, decision));
  TWINSCORE_RETURN_IF_ERROR(ParseList(s, "left_child", I, tree_id, left));
  TWINSCORE_RETURN_IF_ERROR(ParseList(s, "right_child", I, tree_id, right));
  if (s.contains("internal_count")) {
    TWINSCORE_RETURN_IF_ERROR(ParseList(s, "internal_count", I, tree_id, internal_count));
  } else {
    internal_count.assign(I, 0.0);
  }
  auto nc = SectionInt(s, "num_cat", 0, kMaxNodes, where);
  if (!nc.ok()) return nc.status();
  std::vector<int64_t> cat_boundaries;
  std::vector<uint32_t> cat_threshold;
  if (*nc > 0) {
    TWINSCORE_RETURN_IF_ERROR(ParseList(s, "cat_boundaries", *nc + 1, tree_id, cat_boundaries));
    if (cat_boundaries[0] != 0) return Bad(absl::StrCat("LightGBM ", where, ": cat_boundaries must start at 0"));
    for (int64_t c = 0; c < *nc; ++c) {
      if (cat_boundaries[c + 1] < cat_boundaries[c] || cat_boundaries[c + 1] > kMaxCategory / 32) {
        return Bad(absl::StrCat("LightGBM ", where, ": cat_boundaries are not increasing"));
      }
    }
    TWINSCORE_RETURN_IF_ERROR(ParseList(s, "cat_threshold", cat_boundaries[*nc], tree_id, cat_threshold));
  }
  auto child = [&](int32_t c, int32_t& out) -> absl::Status {
    // >= 0: an internal node; < 0: leaf ~c.
    if (c >= 0) {
      if (c >= I) return Bad(absl::StrCat("LightGBM ", where, ": child ", c, " out of range"));
      out = c;
    } else {
      const int64_t leaf = ~static_cast<int64_t>(c);
      if (leaf >= L) return Bad(absl::StrCat("LightGBM ", where, ": leaf ", leaf, " out of range"));
      out = static_cast<int32_t>(I + leaf);
    }
    return absl::OkStatus();
  };
  for (int64_t i = 0; i < I; ++i) {
    TWINSCORE_RETURN_IF_ERROR(child(left[i], tree.left[i]));
    TWINSCORE_RETURN_IF_ERROR(child(right[i], tree.right[i]));
    tree.feature[i] = split_feature[i];
    tree.cover[i] = internal_count[i];
    const int d = decision[i];
    if (d < 0 || d > 15) return Bad(absl::StrCat("LightGBM ", where, ": decision_type ", d, " is invalid"));
    const bool categorical = d & 1;
    const bool dleft = (d >> 1) & 1;
    const int missing = (d >> 2) & 3;
    if (missing == 3) return Bad(absl::StrCat("LightGBM ", where, ": unknown missing type"));
    if (categorical) {
      const double t = threshold[i];
      if (!(t >= 0 && t < *nc) || t != std::floor(t)) {
        return Bad(absl::StrCat("LightGBM ", where, " node ", i, ": category set ", t, " out of range"));
      }
      const int64_t c = static_cast<int64_t>(t);
      const int64_t w32 = cat_boundaries[c + 1] - cat_boundaries[c];
      tree.kind[i] = static_cast<uint8_t>(SplitKind::kCategorical);
      tree.default_left[i] = 0;  // NaN goes right
      tree.cat_begin[i] = static_cast<int32_t>(tree.cat_bits.size());
      tree.cat_words[i] = static_cast<int32_t>((w32 + 1) / 2);
      tree.cat_bits.resize(tree.cat_bits.size() + tree.cat_words[i], 0);
      for (int64_t w = 0; w < w32; ++w) {
        tree.cat_bits[tree.cat_begin[i] + w / 2] |= static_cast<uint64_t>(cat_threshold[cat_boundaries[c] + w])
                                                    << (32 * (w % 2));
      }
      continue;
    }
    const double t = threshold[i];
    tree.threshold[i] = t;
    if (missing == 0) {
      // None: NaN is read as 0 and compared.
      tree.default_left[i] = 0.0 <= t;
    } else if (missing == 1) {
      tree.kind[i] = static_cast<uint8_t>(SplitKind::kNumericZeroMissing);
      tree.default_left[i] = dleft;
    } else {
      tree.default_left[i] = dleft;
    }
  }
  return absl::OkStatus();
}

// Splits the text into lines without copying.
std::vector<absl::string_view> Lines(absl::string_view text) {
  std::vector<absl::string_view> out = absl::StrSplit(text, '\n');
  for (auto& l : out) l = absl::StripTrailingAsciiWhitespace(l);
  return out;
}

void AddLine(Section& s, absl::string_view line) {
  const size_t eq = line.find('=');
  if (eq == absl::string_view::npos) {
    s[std::string(line)] = "";
  } else {
    s[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
}

absl::Status LgbObjective(absl::string_view objective, TreeModel& m) {
  std::vector<absl::string_view> parts = absl::StrSplit(objective, ' ', absl::SkipEmpty());
  if (parts.empty()) return Bad("LightGBM model: empty objective");
  const absl::string_view name = parts[0];
  m.objective = std::string(name);
  for (auto p : parts) {
    if (absl::ConsumePrefix(&p, "sigmoid:")) {
      if (!absl::SimpleAtod(p, &m.sigmoid_scale) || !std::isfinite(m.sigmoid_scale)) {
        return Bad("LightGBM model: bad sigmoid parameter");
      }
    }
  }
  if (name == "binary" || name == "multiclassova" || name == "cross_entropy" || name == "xentropy") {
    m.transform = OutputTransform::kSigmoid;
    if (name == "cross_entropy" || name == "xentropy") m.sigmoid_scale = 1.0;
  } else if (name == "multiclass" || name == "softmax") {
    m.transform = OutputTransform::kSoftmax;
  } else if (name == "poisson" || name == "gamma" || name == "tweedie") {
    m.transform = OutputTransform::kExp;
  } else if (name == "regression" || name == "regression_l2" || name == "regression_l1" || name == "huber" ||
             name == "fair" || name == "quantile" || name == "mape" || name == "lambdarank" ||
             name == "rank_xendcg" || name == "custom") {
    m.transform = OutputTransform::kIdentity;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("LightGBM objective '", name, "' is not supported"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TreeModel> LoadXGBoostJson(absl::string_view text) {
  auto doc = json::ParseJson(text);
  if (!doc.ok()) return doc.status();
  return XgbModel(*doc);
}

absl::StatusOr<TreeModel> LoadXGBoostUbjson(absl::string_view bytes) {
  auto doc = json::ParseUbjson(bytes);
  if (!doc.ok()) return doc.status();
  return XgbModel(*doc);
}

absl::StatusOr<TreeModel> LoadXGBoost(absl::string_view bytes) {
  if (bytes.empty()) return Bad("the XGBoost model file is empty");
  // JSON text starts with '{' then whitespace or '"'; UBJSON's object has a
  // length marker ('L', 'i', 'U', ...) or '$' / '#' / '}' after '{'.
  size_t i = 0;
  while (i < bytes.size() && (bytes[i] == ' ' || bytes[i] == '\n' || bytes[i] == '\r' || bytes[i] == '\t')) ++i;
  if (i < bytes.size() && bytes[i] == '{') {
    const char next = i + 1 < bytes.size() ? bytes[i + 1] : '\0';
    const bool text = next == '"' || next == ' ' || next == '\n' || next == '\r' || next == '\t';
    return text ? LoadXGBoostJson(bytes) : LoadXGBoostUbjson(bytes);
  }
  return Bad("not an XGBoost model: a JSON or UBJSON model starts with '{'");
}

absl::StatusOr<TreeModel> LoadLightGBMText(absl::string_view text) {
  if (text.empty()) return Bad("the LightGBM model file is empty");
  const std::vector<absl::string_view> lines = Lines(text);
  if (lines.empty() || (lines[0] != "tree" && !absl::StartsWith(lines[0], "tree"))) {
    return Bad("not a LightGBM text model (the first line is not 'tree')");
  }
  // The trailer is checked first: a cut file then says so, whatever it cut.
  if (text.find("\nend of trees") == absl::string_view::npos) {
    return Bad("LightGBM model is truncated: no 'end of trees' line");
  }
  Section header;
  size_t i = 1;
  for (; i < lines.size() && !absl::StartsWith(lines[i], "Tree="); ++i) {
    if (lines[i] == "end of trees") break;
    if (!lines[i].empty()) AddLine(header, lines[i]);
  }
  TreeModel m;
  m.flavor = TreeFlavor::kLightGBM;
  auto nc = SectionInt(header, "num_class", 1, 1 << 20, "header");
  if (!nc.ok()) return nc.status();
  m.num_groups = static_cast<int32_t>(*nc);
  auto tpi = SectionInt(header, "num_tree_per_iteration", 1, 1 << 20, "header");
  if (!tpi.ok()) return tpi.status();
  m.trees_per_iteration = static_cast<int32_t>(*tpi);
  if (m.trees_per_iteration != m.num_groups) {
    return Bad(absl::StrCat("LightGBM header: num_tree_per_iteration ", *tpi, " != num_class ", *nc));
  }
  auto mfi = SectionInt(header, "max_feature_idx", 0, kMaxFeatures - 1, "header");
  if (!mfi.ok()) return mfi.status();
  m.num_features = static_cast<int32_t>(*mfi + 1);
  auto obj = header.find("objective");
  if (obj == header.end()) return Bad("LightGBM header has no 'objective'");
  TWINSCORE_RETURN_IF_ERROR(LgbObjective(obj->second, m));
  m.average_output = header.contains("average_output");
  if (auto fn = header.find("feature_names"); fn != header.end()) {
    m.feature_names = absl::StrSplit(fn->second, ' ', absl::SkipEmpty());
    if (static_cast<int64_t>(m.feature_names.size()) != m.num_features) {
      return Bad(absl::StrCat("LightGBM header: ", m.feature_names.size(), " feature names for ", m.num_features,
                              " features"));
    }
  }
  if (auto fi = header.find("feature_infos"); fi != header.end()) {
    // Categorical features list their categories "a:b:c"; numeric ones "[lo:hi]" or "none".
    std::vector<absl::string_view> infos = absl::StrSplit(fi->second, ' ', absl::SkipEmpty());
    if (static_cast<int64_t>(infos.size()) == m.num_features) {
      for (auto info : infos) {
        const bool categorical = !info.empty() && info[0] != '[' && info != "none";
        m.feature_types.push_back(categorical ? "categorical" : "numeric");
      }
    }
  }
  m.base_margin.assign(m.num_groups, 0.0);
  bool ended = false;
  while (i < lines.size()) {
    if (lines[i] == "end of trees") {
      ended = true;
      break;
    }
    if (lines[i].empty()) {
      ++i;
      continue;
    }
    if (!absl::StartsWith(lines[i], "Tree=")) {
      return Bad(absl::StrCat("LightGBM model: unexpected line ", i + 1, " '", lines[i].substr(0, 40), "'"));
    }
    int64_t id = 0;
    if (!absl::SimpleAtoi(lines[i].substr(5), &id) || id != static_cast<int64_t>(m.trees.size())) {
      return Bad(absl::StrCat("LightGBM model: line ", i + 1, " '", lines[i].substr(0, 40), "' is out of order"));
    }
    Section s;
    for (++i; i < lines.size() && !lines[i].empty() && !absl::StartsWith(lines[i], "Tree=") &&
              lines[i] != "end of trees";
         ++i) {
      AddLine(s, lines[i]);
    }
    Tree t;
    TWINSCORE_RETURN_IF_ERROR(LgbTree(s, id, t));
    t.group = static_cast<int32_t>(id % m.trees_per_iteration);
    m.trees.push_back(std::move(t));
    if (static_cast<int64_t>(m.trees.size()) > kMaxNodes) return Bad("LightGBM model: too many trees");
  }
  if (!ended) return Bad("LightGBM model is truncated: no 'end of trees' line");
  TWINSCORE_RETURN_IF_ERROR(ValidateModel(m));
  return m;
}

}  // namespace twinscore
