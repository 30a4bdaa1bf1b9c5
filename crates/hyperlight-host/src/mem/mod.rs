//! Guest memory: the memfd-backed memory itself, its layout, the ELF loader and the
//! page tables.

pub(crate) mod dirty_pages;
pub(crate) mod elf;
pub(crate) mod host_region;
pub(crate) mod image;
pub(crate) mod image_shape;
pub(crate) mod layout;
pub(crate) mod memory;
pub(crate) mod page_table;
