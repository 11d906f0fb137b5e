//! Reading tensors back from the device: one asynchronous transaction per batch, results looked
//! up by the slot each tensor was registered under (never by position).
//!
//! In the browser only asynchronous reads work (a blocking read panics on wasm32), and every read
//! is a round trip to the GPU, so the library reads once per batch: every tensor a batch produced
//! is registered in one [`Readback`], executed once with `Transaction::execute_async`, and the
//! host gets a turn ([`crate::pace::yield_now`]) right after. Natively the same code runs under
//! `pollster::block_on`.
//!
//! ```ignore
//! let mut rb = Readback::new();
//! let loss = rb.push(loss.detach());
//! let correct = rb.push(correct);
//! let mut read = rb.execute().await?;
//! let loss = read.scalar(loss)?;
//! ```

use burn::prelude::*;
use burn::tensor::Transaction;

/// Reading back from the device failed (a lost GPU, a backend error), or a slot was read twice.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("reading back from the device failed: {0}")]
pub struct ReadbackError(pub String);

/// Where a registered tensor's values will be in the [`Read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a slot is the only way to get the tensor's values back"]
pub struct Slot(usize);

/// Tensors to read back together.
#[derive(Default)]
pub struct Readback {
    transaction: Transaction,
    count: usize,
}

impl std::fmt::Debug for Readback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readback").field("tensors", &self.count).finish()
    }
}

impl Readback {
    /// An empty read-back.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a float tensor of any rank; its values come back flattened (row-major) as `f32`.
    pub fn push<const D: usize>(&mut self, tensor: Tensor<D>) -> Slot {
        self.transaction = std::mem::take(&mut self.transaction).register(tensor);
        self.count += 1;
        Slot(self.count - 1)
    }

    /// Number of tensors registered.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Runs the transaction (one asynchronous read of every registered tensor), then gives the
    /// host a turn.
    ///
    /// # Errors
    /// [`ReadbackError`] if the device fails or returns fewer tensors than registered.
    pub async fn execute(self) -> Result<Read, ReadbackError> {
        let want = self.count;
        let data = self.transaction.execute_async().await.map_err(|e| ReadbackError(format!("{e:?}")))?;
        crate::pace::yield_now().await;
        if data.len() != want {
            return Err(ReadbackError(format!("the device returned {} tensors of {want}", data.len())));
        }
        let values = data
            .into_iter()
            .map(|d| d.convert::<f32>().try_into_vec::<f32>().map(Some).map_err(|e| ReadbackError(format!("{e:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Read { values })
    }
}

/// The values of an executed [`Readback`].
#[derive(Debug)]
pub struct Read {
    values: Vec<Option<Vec<f32>>>,
}

impl Read {
    /// The values of the tensor registered as `slot` (each slot can be taken once).
    ///
    /// # Errors
    /// [`ReadbackError`] if the slot was already taken or belongs to another read-back.
    pub fn take(&mut self, slot: Slot) -> Result<Vec<f32>, ReadbackError> {
        self.values
            .get_mut(slot.0)
            .and_then(Option::take)
            .ok_or_else(|| ReadbackError(format!("tensor {} was already read or never registered", slot.0)))
    }

    /// The first value of the tensor registered as `slot` (a scalar).
    ///
    /// # Errors
    /// As [`Read::take`], and for an empty tensor.
    pub fn scalar(&mut self, slot: Slot) -> Result<f32, ReadbackError> {
        self.take(slot)?.first().copied().ok_or_else(|| ReadbackError("an empty tensor where a scalar was expected".into()))
    }
}

/// Reads `tensors` back in one transaction, in order: for a list of same-kind tensors where a
/// slot per tensor would be noise.
///
/// # Errors
/// As [`Readback::execute`].
pub async fn read_all<const D: usize>(tensors: Vec<Tensor<D>>) -> Result<Vec<Vec<f32>>, ReadbackError> {
    let mut rb = Readback::new();
    let slots: Vec<Slot> = tensors.into_iter().map(|t| rb.push(t)).collect();
    let mut read = rb.execute().await?;
    slots.into_iter().map(|s| read.take(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_return_their_own_tensor_once() {
        let device = Device::flex();
        let a = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]), &device);
        let b = Tensor::<1>::from_data(TensorData::new(vec![7.5f32], [1]), &device);
        let mut rb = Readback::new();
        let sb = rb.push(b);
        let sa = rb.push(a);
        assert_eq!(rb.len(), 2);
        let mut read = pollster::block_on(rb.execute()).expect("flex reads");
        assert_eq!(read.take(sa).expect("a"), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(read.scalar(sb).expect("b"), 7.5);
        assert!(read.take(sa).is_err(), "a slot is taken once");
        let all = pollster::block_on(read_all(vec![Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &device)])).expect("reads");
        assert_eq!(all, vec![vec![1.0, 2.0]]);
    }
}
