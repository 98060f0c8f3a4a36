# Vivado block design for the ZC706: processing_system7 + the two HLS kernels.
#   vivado -mode batch -source carbon_edge_bd.tcl -tclargs BUILD_DIR HLS_BUILD_DIR
# (run through `make overlay`, which first writes BUILD_DIR/addresses.tcl from regmap.json)
#
#   PS7 M_AXI_GP0 -> AXI interconnect -> s_axi_control of each kernel (AXI-Lite, regmap bases)
#   sha256   m_axi_gmem0/1          -> interconnect -> S_AXI_HP0 -> DDR
#   clearing m_axi_gmem0/1/2/3      -> interconnect -> S_AXI_HP1 -> DDR (in, out, work_a, work_b)
#   FCLK_CLK0 at the regmap clock drives everything; one reset from the PS.
set build [file normalize [lindex $argv 0]]
set hls_build [file normalize [lindex $argv 1]]
source [file join $build addresses.tcl]

create_project carbon_edge [file join $build vivado] -part $ce_part -force
set_property board_part $ce_board_part [current_project]
set repos {}
foreach k $ce_kernels { lappend repos [file join $hls_build hls_$k sol1 impl ip] }
set_property ip_repo_paths $repos [current_project]
update_ip_catalog

create_bd_design carbon_edge
set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 processing_system7_0]
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
  -config {make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"} $ps
set_property -dict [list \
  CONFIG.PCW_USE_M_AXI_GP0 {1} \
  CONFIG.PCW_USE_S_AXI_HP0 {1} CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {64} \
  CONFIG.PCW_USE_S_AXI_HP1 {1} CONFIG.PCW_S_AXI_HP1_DATA_WIDTH {64} \
  CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $ce_clock_mhz] $ps

foreach k $ce_kernels {
  set inst $ce_instance($k)
  create_bd_cell -type ip -vlnv $ce_vlnv($k) $inst
  apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list \
    Clk_master {/processing_system7_0/FCLK_CLK0 (100 MHz)} Clk_slave {Auto} Clk_xbar {Auto} \
    Master {/processing_system7_0/M_AXI_GP0} Slave "/$inst/s_axi_control" \
    intc_ip {Auto} master_apm {0}] [get_bd_intf_pins $inst/s_axi_control]
  foreach port [get_bd_intf_pins -of_objects [get_bd_cells $inst] -filter {MODE == Master}] {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list \
      Clk_master {Auto} Clk_slave {Auto} Clk_xbar {Auto} \
      Master $port Slave "/processing_system7_0/$ce_hp($k)" intc_ip {Auto} master_apm {0}] \
      [get_bd_intf_pins processing_system7_0/$ce_hp($k)]
  }
}

assign_bd_address
# The register map decides the AXI-Lite bases; the drivers read the same file.
foreach k $ce_kernels {
  set seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces processing_system7_0/Data] \
    -filter "NAME =~ *$ce_instance($k)*"]
  set_property range $ce_range($k) $seg
  set_property offset $ce_base($k) $seg
}
validate_bd_design
save_bd_design

set bd [get_files carbon_edge.bd]
make_wrapper -files $bd -top
add_files -norecurse [file join $build vivado carbon_edge.gen sources_1 bd carbon_edge hdl carbon_edge_wrapper.v]
set_property top carbon_edge_wrapper [current_fileset]
launch_runs impl_1 -to_step write_bitstream -jobs 4
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] != "100%"} {
  puts "ERROR: implementation did not finish; see [file join $build vivado carbon_edge.runs impl_1]"
  exit 1
}
file copy -force [file join $build vivado carbon_edge.runs impl_1 carbon_edge_wrapper.bit] \
  [file join $build carbon_edge.bit]
file copy -force [file join $build vivado carbon_edge.gen sources_1 bd carbon_edge hw_handoff carbon_edge.hwh] \
  [file join $build carbon_edge.hwh]
puts "overlay: [file join $build carbon_edge.bit] and carbon_edge.hwh"
exit 0
