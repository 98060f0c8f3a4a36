# Vitis HLS flow for one PL kernel: C simulation, synthesis, C/RTL co-simulation, IP export.
#   cd hls/build && vitis_hls -f ../scripts/run_hls.tcl -tclargs sha256|clearing
# Part and clock come from overlays/regmap.json's neighbours below; the VLNV exported here is
# the one the PYNQ drivers bind to (edge/pl/pynq_backend.py reads it from the register map).
set kernel [lindex $argv 0]
set here [file dirname [file normalize [info script]]]
set src [file dirname $here]

# Keep the part and clock in one place: read them from overlays/regmap.json with a regexp
# (Vitis HLS ships no JSON parser; the file is ours and flat enough for this).
set fh [open [file join $src .. overlays regmap.json] r]
set regmap [read $fh]
close $fh
regexp {"part":\s*"([^"]+)"} $regmap -> part
regexp {"clock_mhz":\s*([0-9]+)} $regmap -> clock_mhz
regexp {"vendor":\s*"([^"]+)"} $regmap -> vendor
regexp {"library":\s*"([^"]+)"} $regmap -> library
regexp {"ip_version":\s*"([^"]+)"} $regmap -> ip_version

switch -- $kernel {
  sha256 {
    set top sha256_batch
    set sources [list sha256.cpp]
    set tb [list tb/tb_sha256.cpp]
    set csim_args "[file join $src tb sha256_vectors.txt]"
    set cosim_args "[file join $src tb sha256_vectors.txt] --no-million"
  }
  clearing {
    set top clearing
    set sources [list clearing.cpp]
    set tb [list tb/tb_clearing.cpp]
    set csim_args ""
    set cosim_args "--quick"
  }
  default {
    puts "usage: vitis_hls -f run_hls.tcl -tclargs sha256|clearing"
    exit 2
  }
}

open_project -reset hls_$kernel
set_top $top
foreach f $sources { add_files [file join $src $f] -cflags "-std=c++14" }
foreach f $tb { add_files -tb [file join $src $f] -cflags "-std=c++14 -Wno-unknown-pragmas" }
open_solution -reset sol1 -flow_target vivado
set_part $part
create_clock -period [expr {1000.0 / $clock_mhz}] -name default
# 32-bit AXI addresses: the Zynq-7000 HP ports are 32-bit, and the register map's argument
# offsets (one 32-bit word plus a reserved word per argument) assume it.
config_interface -m_axi_addr64=false
csim_design -argv $csim_args
csynth_design
cosim_design -argv $cosim_args
export_design -format ip_catalog -vendor $vendor -library $library -version $ip_version \
  -description "carbon-edge $kernel kernel"
exit
