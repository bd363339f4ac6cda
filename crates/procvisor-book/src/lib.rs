//! The procvisor book's listings, as doctests.
//!
//! Each module below is one chapter of the book (`book/src/*.md`), included as the module's
//! documentation, so `cargo test --doc` compiles every Rust listing of the book and runs every
//! one that is not marked `no_run`. This crate is not published and has no API.
//!
//! - The build script first expands mdBook's `{{#include …}}` directives, so a listing taken
//!   from a program in `examples/` is tested exactly as the reader sees it. A failing doctest
//!   is therefore reported against the expanded copy of its chapter, in this crate's `OUT_DIR`,
//!   with a line number of that copy.
//! - Lines of a listing that start with `# ` are hidden by mdBook as they are by rustdoc. They
//!   hold what turns a fragment into a program: imports, the functions it registers, a `main`
//!   that returns a `Result`, and checks of what the text says the listing does.
//! - A new chapter needs a line here; the build script refuses a chapter that has none.

/// One chapter: `book/src/$file`, after the build script has expanded its includes.
macro_rules! chapter {
    ($name:ident, $file:literal) => {
        #[doc = include_str!(concat!(env!("OUT_DIR"), "/", $file))]
        pub mod $name {}
    };
}

chapter!(introduction, "introduction.md");
chapter!(installation, "installation.md");
chapter!(processes, "processes.md");
chapter!(start_methods, "start-methods.md");
chapter!(pipes, "pipes.md");
chapter!(guidelines, "guidelines.md");
chapter!(queues, "queues.md");
chapter!(synchronization, "synchronization.md");
chapter!(pools, "pools.md");
chapter!(managers, "managers.md");
chapter!(actors, "actors.md");
chapter!(cluster, "cluster.md");
chapter!(performance, "performance.md");
chapter!(python_to_rust, "python-to-rust.md");
chapter!(migration, "migration.md");
