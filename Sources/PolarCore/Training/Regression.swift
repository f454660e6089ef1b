// The regression loss every regression in training uses (the amortizer onto the conjugate
// solver's answer, M_psi onto the implicit M, the bridge network onto X1; docs/design.md §1):
//   L = sum over the rows r in the mask of |p_r - t_r|^2,   dL/dp_r = 2 (p_r - t_r) in the mask, 0 outside,
// a sum (not a mean), so micro-batches and ranks add up before one division by the rows used.

/// L and dL/dp for row-major [rows, dim] predictions `p` and targets `t`; `mask` nil keeps every
/// row. `gradient` (rows x dim) is overwritten. The sum runs row by row, column by column.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func maskedSquaredError<T: BLASScalar>(
  prediction p: UnsafePointer<T>, target t: UnsafePointer<T>,
  mask: UnsafePointer<Bool>?, rows: Int, dim: Int,
  gradient: UnsafeMutablePointer<T>
) -> T {
  var loss: T = 0
  for r in 0 ..< rows {
    let kept = mask?[r] ?? true
    for j in 0 ..< dim {
      let e = kept ? p[r * dim + j] - t[r * dim + j] : 0
      gradient[r * dim + j] = 2 * e
      loss += e * e
    }
  }
  return loss
}
