//! `fv container`, `fv image`, `fv oci`: thin wrappers over `fv-container`.
//! (Placeholder until the container runtime lands.)

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {}
#[derive(Subcommand, Debug)]
pub enum ImageCommand {}
#[derive(Subcommand, Debug)]
pub enum OciCommand {}

pub fn run_container(c: ContainerCommand) -> anyhow::Result<u8> {
    match c {}
}
pub fn run_image(c: ImageCommand) -> anyhow::Result<u8> {
    match c {}
}
pub fn run_oci(c: OciCommand) -> anyhow::Result<u8> {
    match c {}
}
