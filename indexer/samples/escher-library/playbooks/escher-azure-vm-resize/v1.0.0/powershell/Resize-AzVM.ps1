<#
.SYNOPSIS
  Resize an Azure VM, deallocating only when the new size is not available in place.
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)] [string] $ResourceGroupName,
    [Parameter(Mandatory)] [string] $VMName,
    [Parameter(Mandatory)] [string] $NewSize
)
$ErrorActionPreference = 'Stop'

$vm = Get-AzVM -ResourceGroupName $ResourceGroupName -Name $VMName
$previous = $vm.HardwareProfile.VmSize
Write-Host "Resizing $VMName from $previous to $NewSize"

$inPlace = (Get-AzVMSize -ResourceGroupName $ResourceGroupName -VMName $VMName).Name -contains $NewSize
if ($PSCmdlet.ShouldProcess($VMName, "resize to $NewSize")) {
    if (-not $inPlace) {
        Stop-AzVM -ResourceGroupName $ResourceGroupName -Name $VMName -Force | Out-Null
    }
    $vm.HardwareProfile.VmSize = $NewSize
    Update-AzVM -ResourceGroupName $ResourceGroupName -VM $vm | Out-Null
    if (-not $inPlace) {
        Start-AzVM -ResourceGroupName $ResourceGroupName -Name $VMName | Out-Null
    }
}
Write-Host "Done. Roll back with -NewSize $previous"
