//! `cargo run -p fv-guest --example fetch_guest -- [--refresh] [--cache DIR] [--suite S] [--apt-uri URI]`
//!
//! Fetches or reuses the default guest and prints where its files are.

use fv_guest::{ensure_guest, FetchOptions};

fn main() {
    let mut opts = FetchOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--refresh" => opts.refresh = true,
            "--quiet" => opts.progress = false,
            "--cache" => opts.cache_dir = args.next().unwrap_or_default().into(),
            "--suite" => opts.suite = args.next().unwrap_or_default(),
            "--apt-uri" => opts.apt_uri = args.next(),
            other => {
                eprintln!("unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let started = std::time::Instant::now();
    match ensure_guest(&opts) {
        Ok(g) => {
            println!("kernel     {}", g.kernel.display());
            println!("initramfs  {}", g.initramfs.display());
            if let Some(m) = &g.modules_dir {
                println!("modules    {}", m.display());
            }
            println!("versions   {}", g.versions.display());
            println!("took       {:.1} s", started.elapsed().as_secs_f64());
        }
        Err(e) => {
            eprintln!("error: {}", e.chain());
            std::process::exit(1);
        }
    }
}
