#include "core/overlap.hpp"

#include <algorithm>
#include <utility>

namespace ropekit::detail {
namespace {

// Offsets of validated views fit in int64 bytes, so a sum of eight stride x index products does
// not overflow 128 bits.
using Wide = __int128;

Wide floor_div(Wide a, Wide b) {
  const Wide q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

Wide ceil_div(Wide a, Wide b) { return -floor_div(-a, b); }

// One index of the difference between two addresses: j in [lo, hi] times stride (> 0).
struct Term {
  Wide stride = 0, lo = 0, hi = 0;
};

constexpr int kMaxTerms = 2 * kMaxDims;

// Bounds the work on irregular layouts: nested strides (every real layout) need a few nodes.
constexpr int kSearchBudget = 1 << 12;

// Decides whether some j with lo_k <= j_k <= hi_k gives lower < c + sum(j_k * stride_k) < upper.
// Terms are sorted by stride, largest first: when each stride exceeds the span of the smaller
// ones, a level leaves at most two candidates.
class DifferenceSearch {
 public:
  DifferenceSearch(const Term* terms, int n, Wide lower, Wide upper)
      : terms_(terms), n_(n), lower_(lower), upper_(upper) {}

  Overlap run(Wide c) {
    if (solve(0, c)) return Overlap::some;
    return budget_ < 0 ? Overlap::unknown : Overlap::none;
  }

 private:
  bool solve(int k, Wide c) {
    if (k == n_) return lower_ < c && c < upper_;
    if (--budget_ < 0) return false;
    Wide rest_min = 0, rest_max = 0;
    for (int i = k + 1; i < n_; ++i) {
      rest_min += terms_[i].stride * terms_[i].lo;
      rest_max += terms_[i].stride * terms_[i].hi;
    }
    const Term& t = terms_[k];
    const Wide first = std::max(t.lo, floor_div(lower_ - c - rest_max, t.stride) + 1);
    const Wide last = std::min(t.hi, ceil_div(upper_ - c - rest_min, t.stride) - 1);
    for (Wide j = first; j <= last && budget_ >= 0; ++j)
      if (solve(k + 1, c + j * t.stride)) return true;
    return false;
  }

  const Term* terms_;
  int n_;
  Wide lower_, upper_;
  int budget_ = kSearchBudget;
};

// Insertion sort: at most eight terms (std::sort trips GCC's array-bounds warning here).
void sort_by_stride(Term* terms, int n, bool largest_first) {
  for (int i = 1; i < n; ++i)
    for (int j = i; j > 0 && (largest_first ? terms[j - 1].stride < terms[j].stride
                                            : terms[j - 1].stride > terms[j].stride);
         --j)
      std::swap(terms[j - 1], terms[j]);
}

}  // namespace

Footprint footprint_of(const TensorView& view) {
  Footprint f;
  for (int d = 0; d < view.ndim; ++d)
    if (view.shape[d] == 0) return f;
  const int64_t element = element_size(view.dtype);
  const int last = view.ndim - 1;
  const bool contiguous_rows = view.strides[last] == 1 || view.shape[last] == 1;
  const int dims = contiguous_rows ? last : view.ndim;
  f.row_bytes = contiguous_rows ? view.shape[last] * element : element;
  for (int d = 0; d < dims; ++d) {
    // A dimension of size 1 addresses nothing more (and its stride may be anything).
    if (view.shape[d] == 1) continue;
    f.stride[f.ndims] = view.strides[d] * element;
    f.count[f.ndims++] = view.shape[d];
  }
  f.base = reinterpret_cast<uintptr_t>(view.data);
  f.empty = false;
  return f;
}

Overlap internal_overlap(const Footprint& t) {
  if (t.empty) return Overlap::none;
  Term terms[kMaxDims];
  int n = 0;
  for (int d = 0; d < t.ndims; ++d)
    if (t.count[d] > 1) terms[n++] = {t.stride[d], 0, t.count[d] - 1};
  // Fast path: each stride at least the span of the rows inside it (dense or padded layouts).
  sort_by_stride(terms, n, false);
  Wide span = t.row_bytes;
  bool nested = true;
  for (int i = 0; i < n && nested; ++i) {
    nested = terms[i].stride >= span;
    span += terms[i].stride * terms[i].hi;
  }
  if (nested) return Overlap::none;
  for (int i = 0; i < n; ++i)
    if (terms[i].stride == 0) return Overlap::some;
  // Two indices meet when their difference j != 0 lands within a row. By symmetry the first
  // non-zero j_k can be taken positive: search each k with j_k in [1, count - 1].
  sort_by_stride(terms, n, true);
  Overlap result = Overlap::none;
  for (int k = 0; k < n; ++k) {
    Term difference[kMaxDims];
    for (int i = k; i < n; ++i)
      difference[i - k] = {terms[i].stride, i == k ? Wide(1) : -terms[i].hi, terms[i].hi};
    const Overlap found =
        DifferenceSearch(difference, n - k, -Wide(t.row_bytes), Wide(t.row_bytes)).run(0);
    if (found == Overlap::some) return found;
    if (found == Overlap::unknown) result = found;
  }
  return result;
}

namespace {

// One past the last byte of f.
Wide end_of(const Footprint& f) {
  Wide end = Wide(f.base) + f.row_bytes;
  for (int d = 0; d < f.ndims; ++d) end += Wide(f.stride[d]) * (f.count[d] - 1);
  return end;
}

}  // namespace

Overlap overlap(const Footprint& a, const Footprint& b) {
  if (a.empty || b.empty) return Overlap::none;
  // Separate allocations, the common case, without the search.
  if (end_of(a) <= Wide(b.base) || end_of(b) <= Wide(a.base)) return Overlap::none;
  // a's row at index i meets b's row at index i' when base_a - base_b + a.stride . i - b.stride .
  // i' lies in (-a.row_bytes, b.row_bytes). Equal strides of a and b merge into one term.
  Term terms[kMaxTerms];
  int n = 0;
  const auto add = [&](int64_t stride, Wide lo, Wide hi) {
    if (stride == 0 || lo == hi) return;
    for (int i = 0; i < n; ++i)
      if (terms[i].stride == stride) {
        terms[i].lo += lo;
        terms[i].hi += hi;
        return;
      }
    terms[n++] = {stride, lo, hi};
  };
  for (int d = 0; d < a.ndims; ++d) add(a.stride[d], 0, a.count[d] - 1);
  for (int d = 0; d < b.ndims; ++d) add(b.stride[d], -Wide(b.count[d] - 1), 0);
  sort_by_stride(terms, n, true);
  const Wide c = Wide(a.base) - Wide(b.base);
  return DifferenceSearch(terms, n, -Wide(a.row_bytes), Wide(b.row_bytes)).run(c);
}

}  // namespace ropekit::detail
