//! Named datasets: where their files live under the data directory, and how to get them.

use crate::download::{self, CIFAR10_ARCHIVE, CIFAR100_ARCHIVE, OfficialArchive};
use crate::error::{DataError, Result};
use crate::raw::RawDataset;
use std::path::{Path, PathBuf};

/// Environment variable naming the raw-data directory.
pub const DATA_DIR_ENV: &str = "RMD_DATA_DIR";

/// Fashion-MNIST class names.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// MNIST class names.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// The datasets the toolkit knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownDataset {
    /// CIFAR-10, binary version.
    Cifar10,
    /// CIFAR-100, binary version.
    Cifar100,
    /// MNIST, IDX files.
    Mnist,
    /// Fashion-MNIST, IDX files.
    FashionMnist,
}

/// How to find (and possibly fetch) raw data.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// Directory holding the raw datasets.
    pub data_dir: PathBuf,
    /// Whether a missing archive may be downloaded.
    pub download: bool,
    /// Base URL of the official archives.
    pub base_url: String,
    /// Show progress bars.
    pub progress: bool,
}

impl KnownDataset {
    /// All known datasets.
    pub const ALL: [KnownDataset; 4] =
        [KnownDataset::Cifar10, KnownDataset::Cifar100, KnownDataset::Mnist, KnownDataset::FashionMnist];

    /// Parses a dataset name (`cifar10`, `cifar-10`, `cifar100`, `mnist`, `fashion-mnist`).
    pub fn parse(name: &str) -> Option<KnownDataset> {
        match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "cifar10" | "cifar-10" => Some(KnownDataset::Cifar10),
            "cifar100" | "cifar-100" => Some(KnownDataset::Cifar100),
            "mnist" => Some(KnownDataset::Mnist),
            "fashion-mnist" | "fashionmnist" => Some(KnownDataset::FashionMnist),
            _ => None,
        }
    }

    /// Canonical name.
    pub fn name(self) -> &'static str {
        match self {
            KnownDataset::Cifar10 => "cifar10",
            KnownDataset::Cifar100 => "cifar100",
            KnownDataset::Mnist => "mnist",
            KnownDataset::FashionMnist => "fashion-mnist",
        }
    }

    /// The directory (under the data directory) holding the files.
    pub fn dir_name(self) -> &'static str {
        match self {
            KnownDataset::Cifar10 => CIFAR10_ARCHIVE.extracts_to,
            KnownDataset::Cifar100 => CIFAR100_ARCHIVE.extracts_to,
            KnownDataset::Mnist => "mnist",
            KnownDataset::FashionMnist => "fashion-mnist",
        }
    }

    /// torchvision's archive of the dataset (the Python version), for CIFAR.
    fn python_archive(self) -> Option<OfficialArchive> {
        match self {
            KnownDataset::Cifar10 => Some(crate::import::cifar_python::CIFAR10_PYTHON_ARCHIVE),
            KnownDataset::Cifar100 => Some(crate::import::cifar_python::CIFAR100_PYTHON_ARCHIVE),
            _ => None,
        }
    }

    fn archive(self) -> Option<OfficialArchive> {
        match self {
            KnownDataset::Cifar10 => Some(CIFAR10_ARCHIVE),
            KnownDataset::Cifar100 => Some(CIFAR100_ARCHIVE),
            _ => None,
        }
    }

    /// The files that must be present in the dataset directory.
    pub fn required_files(self) -> Vec<String> {
        match self {
            KnownDataset::Cifar10 => crate::cifar::CIFAR10_TRAIN_FILES
                .iter()
                .chain([&crate::cifar::CIFAR10_TEST_FILE, &crate::cifar::CIFAR10_META_FILE])
                .map(|s| s.to_string())
                .collect(),
            KnownDataset::Cifar100 => crate::cifar::CIFAR100_FILES.iter().map(|s| s.to_string()).collect(),
            KnownDataset::Mnist | KnownDataset::FashionMnist => {
                crate::idx::IDX_FILES.iter().map(|s| s.to_string()).collect()
            }
        }
    }

    /// Paths of the source files present in `dir` (IDX files may carry `.gz`).
    pub fn present_files(self, dir: &Path) -> Vec<PathBuf> {
        self.required_files()
            .iter()
            .filter_map(|f| match self {
                KnownDataset::Mnist | KnownDataset::FashionMnist => crate::idx::locate(dir, f),
                _ => Some(dir.join(f)).filter(|p| p.is_file()),
            })
            .collect()
    }

    /// Finds the dataset directory under `opts.data_dir`, extracting a present archive or
    /// downloading it when allowed. When nothing works, the error says what to put where.
    pub fn locate(self, opts: &SourceOptions) -> Result<PathBuf> {
        let dir = opts.data_dir.join(self.dir_name());
        let required = self.required_files();
        if self.present_files(&dir).len() == required.len() {
            return Ok(dir);
        }
        let Some(archive) = self.archive() else {
            return Err(DataError::Missing(format!(
                "{} not found: put {} (each raw or .gz) into {} (the data directory is set by --data-dir or {DATA_DIR_ENV})",
                self.name(),
                required.join(", "),
                dir.display()
            )));
        };
        let archive_path = opts.data_dir.join(archive.file_name);
        let torchvision = self
            .python_archive()
            .map(|p| format!(" or torchvision's {} or its directory {}/,", p.file_name, p.extracts_to))
            .unwrap_or_default();
        let missing_msg = |why: &str| {
            DataError::Missing(format!(
                "{} not found in {}: {why}.\nPut the official {} (md5 {}) into {}, or its extracted directory {}/ \
                 (files: {}),{torchvision} or point --data-dir / {DATA_DIR_ENV} at a directory that has them.",
                self.name(),
                opts.data_dir.display(),
                archive.file_name,
                archive.md5,
                opts.data_dir.display(),
                archive.extracts_to,
                required.join(", "),
            ))
        };
        if dir.exists() && !archive_path.exists() && !opts.download {
            let missing: Vec<&String> = required.iter().filter(|f| !dir.join(f.as_str()).is_file()).collect();
            return Err(missing_msg(&format!(
                "{} is incomplete (missing {})",
                dir.display(),
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        if !archive_path.exists() {
            if !opts.download {
                return Err(missing_msg("downloading is disabled (--no-download)"));
            }
            let url = format!("{}{}", opts.base_url, archive.file_name);
            rmd_store::report::note(format!("{} not found locally; downloading {url}", self.name()));
            download::download(&opts.base_url, &archive, &opts.data_dir, opts.progress)
                .map_err(|e| missing_msg(&e.to_string()))?;
        } else {
            download::check_md5(&archive_path, &archive)?;
        }
        rmd_store::report::note(format!("extracting {}", archive_path.display()));
        download::extract(&archive_path, &archive, &opts.data_dir)
    }

    /// torchvision's copy of the dataset in `data_dir`, for CIFAR: the extracted
    /// `cifar-10-batches-py/` (`cifar-100-python/`) or else `cifar-10-python.tar.gz`
    /// (`cifar-100-python.tar.gz`).
    pub fn python_copy(self, data_dir: &Path) -> Option<PathBuf> {
        let archive = self.python_archive()?;
        let dir = data_dir.join(archive.extracts_to);
        let file = data_dir.join(archive.file_name);
        if dir.is_dir() { Some(dir) } else { file.is_file().then_some(file) }
    }

    /// Where the dataset's files are: the binary version when its files or its archive are
    /// in the data directory, else torchvision's Python version when that is there (the same
    /// images, labels and class names, so the same dataset), else what [`Self::locate`]
    /// finds (a download when allowed).
    pub fn locate_source(self, opts: &SourceOptions) -> Result<SourceLocation> {
        let dir = opts.data_dir.join(self.dir_name());
        let binary_here = self.present_files(&dir).len() == self.required_files().len()
            || self.archive().is_some_and(|a| opts.data_dir.join(a.file_name).exists());
        if !binary_here && let Some(copy) = self.python_copy(&opts.data_dir) {
            return Ok(SourceLocation::Python(copy));
        }
        self.locate(opts).map(SourceLocation::Binary)
    }

    /// Reads the dataset's files from `dir`.
    pub fn read(self, dir: &Path) -> Result<RawDataset> {
        match self {
            KnownDataset::Cifar10 => crate::cifar::read_cifar10(dir),
            KnownDataset::Cifar100 => crate::cifar::read_cifar100(dir),
            KnownDataset::Mnist => crate::idx::read_idx_dataset(dir, "mnist", &MNIST_CLASSES),
            KnownDataset::FashionMnist => {
                crate::idx::read_idx_dataset(dir, "fashion-mnist", &FASHION_MNIST_CLASSES)
            }
        }
    }
}

/// Where [`KnownDataset::locate_source`] found a dataset's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceLocation {
    /// The official binary layout, in this directory.
    Binary(PathBuf),
    /// torchvision's Python version: its extracted directory or its archive.
    Python(PathBuf),
}

impl SourceLocation {
    /// The directory or archive.
    pub fn path(&self) -> &Path {
        match self {
            SourceLocation::Binary(p) | SourceLocation::Python(p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_cifar100_message_names_the_files_and_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SourceOptions {
            data_dir: dir.path().to_path_buf(),
            download: true,
            base_url: "http://127.0.0.1:9/".into(),
            progress: false,
        };
        let err = KnownDataset::Cifar100.locate(&opts).unwrap_err().to_string();
        assert!(err.contains("cifar-100-binary.tar.gz"), "{err}");
        assert!(err.contains("03b5dce01913d631647c71ecec9e9cb8"), "{err}");
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        let opts = SourceOptions { download: false, ..opts };
        let err = KnownDataset::Mnist.locate(&opts).unwrap_err().to_string();
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");
    }
}
