//! In-memory datasets as read from their official files, before import into the store.

/// One split (train or test) of a dataset, images in NCHW u8 order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawSplit {
    /// `n * channels * height * width` bytes, channel-major per image.
    pub images: Vec<u8>,
    /// Class index per image.
    pub labels: Vec<u16>,
    /// Coarse (superclass) index per image, for datasets that have one (CIFAR-100).
    pub coarse_labels: Option<Vec<u16>>,
}

impl RawSplit {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split has no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A whole dataset read from its source files.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDataset {
    /// Canonical dataset name (`cifar10`, `cifar100`, `mnist`, `fashion-mnist`).
    pub name: String,
    /// Class names, by index.
    pub classes: Vec<String>,
    /// Coarse class names, for datasets that have them.
    pub coarse_classes: Option<Vec<String>>,
    /// Image shape: channels, height, width.
    pub shape: [usize; 3],
    /// Training split, in the official order.
    pub train: RawSplit,
    /// Test split.
    pub test: RawSplit,
}

impl RawDataset {
    /// Bytes per image.
    pub fn image_bytes(&self) -> usize {
        self.shape.iter().product()
    }
}
