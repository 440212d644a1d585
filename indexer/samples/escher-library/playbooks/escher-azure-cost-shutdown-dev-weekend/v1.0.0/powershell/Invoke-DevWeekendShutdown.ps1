<#
.SYNOPSIS
  Azure Automation runbook: stop (Friday) or start (Monday) resources tagged environment=dev.
#>
param(
    [Parameter(Mandatory)] [ValidateSet('Stop', 'Start')] [string] $Action,
    [string] $TagName = 'environment',
    [string] $TagValue = 'dev',
    [switch] $WhatIf
)
$ErrorActionPreference = 'Stop'
Connect-AzAccount -Identity | Out-Null

$vms = Get-AzVM -Status | Where-Object { $_.Tags[$TagName] -eq $TagValue }
foreach ($vm in $vms) {
    Write-Output "$Action VM $($vm.Name) ($($vm.PowerState))"
    if ($WhatIf) { continue }
    if ($Action -eq 'Stop') { Stop-AzVM -ResourceGroupName $vm.ResourceGroupName -Name $vm.Name -Force -NoWait }
    else { Start-AzVM -ResourceGroupName $vm.ResourceGroupName -Name $vm.Name -NoWait }
}

$clusters = Get-AzAksCluster | Where-Object { $_.Tags[$TagName] -eq $TagValue }
foreach ($c in $clusters) {
    Write-Output "$Action AKS $($c.Name)"
    if ($WhatIf) { continue }
    $rg = ($c.Id -split '/')[4]
    if ($Action -eq 'Stop') { Stop-AzAksCluster -ResourceGroupName $rg -Name $c.Name -AsJob | Out-Null }
    else { Start-AzAksCluster -ResourceGroupName $rg -Name $c.Name -AsJob | Out-Null }
}
